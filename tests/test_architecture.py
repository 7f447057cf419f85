"""The shape the code promises: a pure KPI core, and a manifest that lists the code's topics."""
import ast
import json
import sys
from pathlib import Path

from webhooks.registry import ADAPTERS

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_kpi_core_imports_only_the_standard_library():
    for path in (ROOT / "plugin" / "kpi").glob("*.py"):
        foreign = {name for name in imports_of(path) if name not in sys.stdlib_module_names}
        assert foreign == set(), f"{path.name} imports {foreign}"


def test_manifest_topics_equal_the_code_topic_tables():
    manifest = json.loads((ROOT / "manifest.json").read_text())
    for platform, adapter in ADAPTERS.items():
        assert sorted(manifest["platforms"][platform]["webhooks"]["topics"]) == sorted(adapter.TOPICS), platform
    assert set(manifest["platforms"]) == set(ADAPTERS)
