"""Guard rail: planner/domain stays a pure core (no Django, DRF, Celery or config)."""

import ast
from pathlib import Path

import planner.domain

FORBIDDEN = {"django", "rest_framework", "celery", "config", "drf_spectacular"}


def test_planner_domain_imports_no_framework():
    offenders = []
    for path in Path(planner.domain.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
