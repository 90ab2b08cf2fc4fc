from tests.integration.collectors.conftest import http_peer  # noqa: F401 - the same real HTTP peer
