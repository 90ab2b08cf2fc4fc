"""The main pages in the dark and the light colour scheme: charts render with data on the page's colours, no
console errors, and text keeps a WCAG AA contrast (4.5:1) against the background behind it. Dark
screenshots go beside the others in test-artifacts/screenshots/."""

import pytest

from .conftest import DESKTOP, PHONE, SCREENSHOTS, settle_layout
from .pages import PAGES
from .test_pages import CHART_STATE

pytestmark = pytest.mark.e2e

MAIN_PAGES = [p for p in PAGES if p.name in ("overview", "halls", "hall", "gpus", "gpu", "sources", "export-links")]

# Each visible text element's colour against the first opaque background among it and its ancestors.
CONTRAST = """() => {
  const rgba = (s) => s.match(/[\\d.]+/g).map(Number);
  const linear = (c) => (c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const text = "body, main p, a, h1, h2, th, td, label, li, .who span, .filters .tz";
  return [...document.querySelectorAll(text)]
    .filter((el) => el === document.body
      || (el.checkVisibility() && el.textContent.trim() && el.closest(".chart") === null))
    .map((el) => ({ what: `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}"`,
                    ratio: ratio(rgba(getComputedStyle(el).color), behind(el)) }));
}"""
# The colours a chart was drawn with, against the page's palette.
CHART_COLOURS = """() => [...document.querySelectorAll('[data-figure]')].map((el) => ({
  font: el._fullLayout.font.color, paper: el._fullLayout.paper_bgcolor,
  grids: Object.keys(el._fullLayout).filter((k) => /^[xy]axis\\d*$/.test(k)).map((k) => el._fullLayout[k].gridcolor),
  colorway: el._fullLayout.colorway }))"""
PALETTE_VARS = """() => { const css = getComputedStyle(document.documentElement);
  return Object.fromEntries(['--fg', '--grid', '--bg'].map((v) => [v, css.getPropertyValue(v).trim()])); }"""


def _hex_to_rgb(colour):
    colour = colour.lstrip("#")
    return f"rgb({int(colour[0:2], 16)}, {int(colour[2:4], 16)}, {int(colour[4:6], 16)})"


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("spec", MAIN_PAGES, ids=[p.name for p in MAIN_PAGES])
def test_page_follows_the_colour_scheme_with_readable_text(page, e2e_world, spec, scheme):
    page.emulate_media(color_scheme=scheme)
    response = page.goto(page.base + spec.path(e2e_world))
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    if page.locator("[data-figure]").count():
        page.wait_for_selector("[data-figure]:not([data-rendered=true])", state="detached", timeout=15000)
    charts = page.evaluate(CHART_STATE)
    assert len(charts) >= spec.charts
    for chart in charts:
        assert chart["rendered"] and chart["points"] > 0, f"{spec.name} ({scheme}): {chart}"

    palette = page.evaluate(PALETTE_VARS)
    assert (palette["--bg"] == "#0d1117") == (scheme == "dark")  # the scheme really is the one asked for
    for drawn in page.evaluate(CHART_COLOURS):
        assert drawn["font"] == _hex_to_rgb(palette["--fg"]) or drawn["font"] == palette["--fg"], drawn
        assert drawn["paper"] == "rgba(0,0,0,0)", drawn  # the page's background shows through
        assert set(drawn["grids"]) <= {palette["--grid"], _hex_to_rgb(palette["--grid"])}, drawn
        assert drawn["colorway"][:7] == ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442"]

    contrasts = page.evaluate(CONTRAST)
    assert contrasts[0]["what"].startswith("body") and contrasts[0]["ratio"] >= 4.5, contrasts[0]
    poor = [c for c in contrasts if c["ratio"] < 4.5]
    assert poor == [], f"{spec.name} ({scheme}): text below 4.5:1 {poor[:5]}"
    assert page.errors == [], f"{spec.name} ({scheme}): console errors {page.errors}"

    if scheme == "dark":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            settle_layout(page, size["width"])
            page.screenshot(path=SCREENSHOTS / f"{spec.name}-dark-{label}.png", full_page=True)
