"""Guard rail: planner/domain and the shared reference package stay a pure core (no Django, DRF, Celery
or config); reference imports neither app, so telemetry may import it without importing the planner."""

import ast
from pathlib import Path

import pytest

import planner.domain
import reference

FRAMEWORK = {"django", "rest_framework", "celery", "config", "drf_spectacular"}


def imported_roots(package) -> list[tuple[str, str]]:
    found = []
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [(path.name, n.split(".")[0]) for n in names]
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [(planner.domain, FRAMEWORK), (reference, FRAMEWORK | {"planner", "telemetry"})],
    ids=["planner.domain", "reference"],
)
def test_pure_core_imports_no_framework(package, forbidden):
    assert [f"{name}: {root}" for name, root in imported_roots(package) if root in forbidden] == []
