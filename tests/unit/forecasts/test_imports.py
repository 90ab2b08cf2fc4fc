import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "planner" / "domain"
FORBIDDEN = {"django", "rest_framework", "celery", "config"}


@pytest.mark.parametrize("module", ["cooling_forecast.py", "failure_risk.py", "backtest.py", "thermal.py"])
def test_forecast_domain_is_free_of_framework_imports(module):
    tree = ast.parse((DOMAIN / module).read_text())
    imported = {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & FORBIDDEN
