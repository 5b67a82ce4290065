"""The hook reference stays whole: every hookspec has a section in docs/plugins.md and a test that
calls it (as datasette checks its plugin hooks), and no "Since" note is newer than the package."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from host import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if name.startswith("shifo_"))
SINCE = re.compile(r"Since (\d+)\.(\d+)\.(\d+)")


def test_the_hooks_are_found() -> None:
    """The control for the checks below: they look at the real list of hooks."""
    assert {"shifo_module_info", "shifo_patient_feed", "shifo_settings", "shifo_cli_commands",
            "shifo_demo_data"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_docs(hook: str) -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"\n### `{hook}()`\n" in docs, f"docs/plugins.md has no '### `{hook}()`' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_called_by_a_test(hook: str) -> None:
    here = Path(__file__).resolve()
    found = [p for p in (ROOT / "tests").rglob("*.py")
             if p.resolve() != here and hook in p.read_text(encoding="utf-8")]
    assert found, f"no test under tests/ names {hook}: add one that calls it"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_since_notes_are_not_newer_than_the_package() -> None:
    package = version(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    notes = [(tuple(int(n) for n in m.groups()), m.group(0))
             for path in (ROOT / "host" / "hookspecs.py", ROOT / "host" / "pluginapi.py")
             for m in SINCE.finditer(path.read_text(encoding="utf-8"))]
    assert notes and any(found == package for found, _ in notes)  # the newest hooks name this version
    assert all(found <= package for found, _ in notes), [said for found, said in notes if found > package]
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(shifo_\w+)\(\)` \|.*\| (\d+\.\d+\.\d+) \|$", docs, re.MULTILINE)
    assert sorted(h for h, _ in table) == HOOKS
    for hook, since in table:  # the docs' table says what the hookspec says
        doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
        said = SINCE.search(doc)
        assert (said.group(0) if said else "Since 0.1.0") == f"Since {since}", hook
