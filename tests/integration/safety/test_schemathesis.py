"""schemathesis over the whole OpenAPI schema, as admins of both of two organizations on PostgreSQL (the
examples of an operation alternate between them): no request may answer 5xx, and every response must be one the
schema documents (status, content type, body), else the test fails with the request to reproduce it.

Stateful: schemathesis' state machine chains the operations it links by the schema (a POST's `id` into the
`{id}` of GET/PUT/PATCH/DELETE of the same resource), each scenario as the admin of one organization in turn,
with the same checks: SCHEMATHESIS_SCENARIOS scenarios (default 20) of at most SCHEMATHESIS_STEPS steps (10).

Examples per operation: SCHEMATHESIS_EXAMPLES (default 8: ~1,000 requests, ~50-80 s on 2 cores). The deep run of
docs/operations.md adds the coverage phase: SCHEMATHESIS_COVERAGE=1 (boundary and negative values of every
parameter). SCHEMATHESIS_REPORT=<file> writes per-operation request, status and 5xx counts as JSON;
SCHEMATHESIS_MEASURE=1 only counts (no check fails the test), to measure a whole run.
"""

import json
import os
from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "20"))
STEPS = int(os.environ.get("SCHEMATHESIS_STEPS", "10"))
MEASURE = os.environ.get("SCHEMATHESIS_MEASURE") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
calls, server_errors, statuses = Counter(), Counter(), Counter()


def openapi():
    """The schema /api/schema/ serves (pytest-django has set Django up before collection)."""
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


# The coverage phase (boundary and negative values of every parameter, ~150 requests per operation) runs in
# the deep run only; the suite's run fuzzes EXAMPLES cases per operation.
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE") == "1"
config = schemathesis.config.SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": COVERAGE}}})
schema = schemathesis.openapi.from_dict(openapi(), config=config)


@pytest.fixture
def wsgi(world):
    """The project's WSGI app, in this test's transaction: like Django's test client, requests must not close
    the test's connection on request_started/finished."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    path = os.environ.get("SCHEMATHESIS_REPORT")
    if path:
        total = {"requests": sum(calls.values()), "5xx": sum(server_errors.values())}
        with open(path, "w") as fh:
            json.dump(
                {"total": total, "calls": calls, "5xx": server_errors, "statuses": statuses},
                fh,
                indent=1,
                sort_keys=True,
            )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_and_never_answers_5xx(case, wsgi, world):
    name = f"{case.method} {case.path}"
    org = (world.a, world.b)[calls[name] % 2]
    response = case.call(app=wsgi, headers={"Authorization": f"Token {org.tokens['admin']}"})
    check(case, response)


def check(case, response):
    name = f"{case.method} {case.path}"
    calls[name] += 1
    statuses[f"{name} {response.status_code}"] += 1
    if response.status_code >= 500:
        server_errors[name] += 1
        if MEASURE:
            print("5xx:", case.as_curl_command(), response.text[:300].replace("\n", " "))
    if not MEASURE:
        case.validate_response(response, checks=CHECKS)


def test_linked_operations_conform_and_never_answer_5xx(wsgi, world):
    machine = schema.as_state_machine()
    scenarios = Counter()

    class TwoOrganizations(machine):
        def setup(self):
            scenarios["started"] += 1
            self.token = (world.a, world.b)[scenarios["started"] % 2].tokens["admin"]
            # Each scenario starts from the world as built (Hypothesis replays a scenario to shrink it).
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"app": wsgi, "headers": {"Authorization": f"Token {self.token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            check(case, response)

    before = sum(calls.values())
    TwoOrganizations.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    assert scenarios["started"] >= 2 and sum(calls.values()) > before
