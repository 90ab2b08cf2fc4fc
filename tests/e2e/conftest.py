"""Browser tests: Playwright driving Debian's chromium against pytest-django's live server.

Runs only with `-m e2e` selected or in the full suite; needs /usr/bin/chromium (Debian package `chromium`).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}  # the issue #15 walk-through's width
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an event loop running in this thread until the session ends (the browser
    # tests run last, see tests/conftest.py); the ORM calls the tests make stay synchronous meanwhile.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def e2e_world(world):
    """The fixture world plus what the report pages show: a subscription with two past deliveries, the
    failed one with its attempts (a lost worker, then a dropped connection)."""
    from planner.reports.models import ReportDelivery, ReportDeliveryAttempt, ReportSubscription

    world.subscription = ReportSubscription.objects.create(
        organization=world.a.org, name="Weekly fleet", recipients=["ops@example.com"], sections=["fleet_summary"]
    )
    now = timezone.now()
    ReportDelivery.objects.create(
        subscription=world.subscription, scheduled_for=now - timedelta(hours=3), status="sent"
    )
    failed = ReportDelivery.objects.create(
        subscription=world.subscription,
        scheduled_for=now - timedelta(days=12),
        status="failed",
        attempts=2,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
    )
    lost = "Worker lost during attempt 1 (not finished within 900 s): the message may or may not have been delivered."
    for number, outcome, error in ((1, "worker_lost", lost), (2, "error", failed.last_error)):
        ReportDeliveryAttempt.objects.create(
            delivery=failed, number=number, started_at=failed.scheduled_for, outcome=outcome, error=error
        )
    return world


@pytest.fixture
def page(browser, live_server, e2e_world):
    """A logged-in page (the alpha organization's planner) that records console errors; any Content-Security-
    Policy violation (an inline script, eval, a foreign origin) fails the test that met it."""
    from tests.base import PASSWORD

    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.base = live_server.url
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alpha-planner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    yield page
    violations = [e for e in page.errors if "Content Security Policy" in e or e.startswith(CSP_PREFIX)]
    context.close()
    assert not violations, f"CSP violations: {violations}"


CSP_PREFIX = "CSP violation:"
# The browser's securitypolicyviolation event as a console error (Chromium also logs most violations itself).
CSP_LISTENER = (
    "document.addEventListener('securitypolicyviolation', e => console.error("
    f"'{CSP_PREFIX} ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + e.sourceFile))"
)


def settle_layout(page, width):
    """Plotly redraws responsive charts some time after a resize (longer on a busy machine): wait up to 5 s
    for the page to fit the new width, then let the caller's check judge what it measures."""
    page.wait_for_timeout(300)
    try:
        page.wait_for_function(f"document.documentElement.scrollWidth <= {width + 1}", timeout=5000)
    except PlaywrightTimeoutError:
        pass
