"""A second site for an organization of the fixture world (tests.base), in another timezone, so the
dashboard's site/hall filters have something to leave out; and a helper reading a page without its filter bar."""

import re

from tests.base import build_site

FILTER_BAR = re.compile(r'<form class="filters" method="get".*?</form>', re.S)


def add_site(organization, name="west", timezone="America/New_York"):
    return build_site(organization, name, timezone, it_kw=400, cooling_kw=450, uuid_group="1111")


def shown(response):
    """The page's HTML without the filter bar (whose site and hall menus name every hall)."""
    assert response.status_code == 200, response.status_code
    return FILTER_BAR.sub("", response.content.decode())
