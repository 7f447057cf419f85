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


def test_every_module_imports_on_its_own():
    """Each module of plugin/ and webhooks/ imports first of all in a fresh process: an import cycle
    that only works in one order (plugin.alerts.channels → plugin.panel → back to channels did)
    breaks a worker, a script or a test that happens to import the other end first. One child
    process imports the third-party libraries, then forks a grandchild per module (none of ours is
    loaded before the fork), four at a time, which is as fresh as a new interpreter and many times faster."""
    import subprocess

    modules = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for package in ("plugin", "webhooks") for path in (ROOT / package).rglob("*.py"))
    assert "plugin.alerts.channels" in modules and "webhooks" in modules
    script = """
import importlib, os, sys
import babel.dates, babel.numbers, flask, marshmallow, openpyxl, requests, sqlalchemy.orm  # not ours
assert not [name for name in sys.modules if name.split(".")[0] in ("plugin", "webhooks")]
running = 0
for module in sys.argv[1:]:
    if running == 4:
        os.wait()
        running -= 1
    if os.fork() == 0:
        try:
            importlib.import_module(module)
        except BaseException as error:
            print(f"{module}: {error!r}", flush=True)
        os._exit(0)
    running += 1
while running:
    os.wait()
    running -= 1
"""
    done = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == []
