"""Export links in the browser: create one, copy its secret by keyboard, download CSV with it from a context
that has no login, revoke it, and the same URL is refused."""

import csv
import io

import pytest

pytestmark = pytest.mark.e2e


def test_export_link_is_created_used_and_revoked(page, browser):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(page.base + "/")
    page.get_by_role("link", name="Export links").click()
    page.get_by_label("Name").fill("capacity sheet")
    page.get_by_role("button", name="Create link").click()
    secret = page.get_by_label("Secret", exact=True).input_value()
    url = page.get_by_label("Example URL (hall headroom as CSV)").input_value()
    assert secret.startswith("hx_") and url.endswith(f"export_token={secret}")

    page.get_by_label("Secret", exact=True).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Copy secret"
    page.keyboard.press("Enter")
    page.wait_for_selector(".copy-status:has-text('Secret copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    stranger = browser.new_context()  # no session cookie: only the secret in the URL can authorize
    try:
        response = stranger.request.get(url)
        assert response.status == 200, response.text()[:300]
        rows = list(csv.DictReader(io.StringIO(response.text())))
        assert [r["Hall"] for r in rows] == ["alpha-hall"]

        page.reload()  # the secret was shown once; a reload neither shows it nor creates another link
        assert page.get_by_label("Secret", exact=True).count() == 0
        assert page.locator("tbody tr").count() == 1
        assert "never" not in page.get_by_role("row", name="capacity sheet").inner_text()  # last used is shown
        page.get_by_role("link", name="Revoke “capacity sheet”").click()
        page.get_by_role("button", name="Revoke link").click()
        page.wait_for_selector(".messages:has-text('Revoked export link')")
        assert "revoked" in page.get_by_role("row", name="capacity sheet").inner_text()
        assert stranger.request.get(url).status in (401, 403)
    finally:
        stranger.close()
    assert page.errors == []
