"""Guard rails for the layers: telemetry never imports planner (planner may import telemetry), and the
pure cores (physics/, reference/, planner/domain/) import no framework; physics and reference import
neither app, so both apps may import them. Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = {"django", "rest_framework", "celery", "config", "drf_spectacular"}


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every absolute import in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add((node.module or "").split(".")[0])
    return names


def sources(package: str) -> dict[str, set[str]]:
    paths = sorted((ROOT / package).rglob("*.py"))
    assert paths, f"no Python files under {package}/"
    return {
        path.relative_to(ROOT).as_posix(): imported_packages(path) for path in paths if "migrations" not in path.parts
    }


def test_telemetry_does_not_import_planner():
    importing = {name for name, packages in sources("telemetry").items() if "planner" in packages}
    assert importing == set(), "telemetry must not import planner (register in telemetry.extensions instead)"


@pytest.mark.parametrize("package", ["physics", "reference"])
def test_shared_core_imports_neither_app_nor_framework(package):
    offenders = {name: found & (FRAMEWORKS | {"telemetry", "planner"}) for name, found in sources(package).items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_planner_domain_imports_no_framework():
    offenders = {name: packages & FRAMEWORKS for name, packages in sources("planner/domain").items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from planner.models import Alert\n    import django.db\n")
    assert imported_packages(module) == {"planner", "django"}
