"""Hooks are called through pluggy: ``specname=`` works, an unmarked function is never called, every
result is attributed to the module that gave it; and the hooks that replaced what the host used to
hard-code (the patient feed, CLI commands, settings, demo data) work for the built-in modules."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import ConfigurationError
from host import cli
from host.modules import Modules
from host.pluginapi import Action, CliCommand, CommandContext, FeedEvent, ModuleInfo, hookimpl, own_record
from host.runtime import Runtime
from host.settings import Settings
from tests.support import ALL_MODULES


def module(name: str, **hooks: Any) -> types.SimpleNamespace:
    """A plugin object with ``shifo_module_info`` and the given attributes (marked or not)."""
    info = ModuleInfo(name=name, title=name, version="0.0.1")
    return types.SimpleNamespace(shifo_module_info=hookimpl(lambda: info), **hooks)


def test_specname_unmarked_functions_and_attribution() -> None:
    called: list[str] = []

    def unmarked() -> list[Action]:
        called.append("unmarked")
        return [Action(object="beta.never", action="read")]

    alpha = module("alpha", declare=hookimpl(specname="shifo_actions")(
        lambda: [Action(object="alpha.thing", action="read")]))
    beta = module("beta", shifo_actions=unmarked)
    gamma = module("gamma", shifo_actions=hookimpl(lambda: [Action(object="gamma.thing", action="read")]))
    modules = Modules.load(["alpha", "beta", "gamma"], {"alpha": alpha, "beta": beta, "gamma": gamma})
    got = {info.name: [a.object for a in actions] for info, actions in modules.actions()}
    assert got == {"alpha": ["alpha.thing"], "gamma": ["gamma.thing"]}  # beta implements nothing
    assert called == []


def test_an_unmarked_module_info_is_not_a_module() -> None:
    info = ModuleInfo(name="bare", title="bare", version="0.0.1")
    bare = types.SimpleNamespace(shifo_module_info=lambda: info)
    with pytest.raises(ConfigurationError, match="does not say who it is"):
        Modules.load(["bare"], {"bare": bare})


def test_a_marked_function_no_hook_matches_is_refused() -> None:
    typo = module("typo", shifo_actoins=hookimpl(lambda: []))
    with pytest.raises(ConfigurationError, match="shifo_actoins"):
        Modules.load(["typo"], {"typo": typo})


def test_the_patient_feed_comes_from_the_enabled_modules() -> None:
    feed = Runtime.plan(Settings(modules=ALL_MODULES)).feed
    assert (feed["erecipe.issued"].kind, feed["erecipe.issued"].status) == ("prescription", "issued")
    assert feed["erecipe.dispensed"].status is None  # the event carries its own
    assert {e.kind for e in feed.values()} == {"entry", "prescription", "visit", "stay"}
    assert not any(t.startswith("erecipe.") for t in Runtime.plan(Settings(modules=("medcard",))).feed)


@pytest.mark.parametrize(("shown", "message"), [
    ([FeedEvent(type="medcard.entry_recorded", kind="entry")], "list only its own events"),
    ([FeedEvent(type="probe.x", kind="x"), FeedEvent(type="probe.x", kind="y")], "listed twice"),
])
def test_a_feed_outside_the_module_or_twice_is_refused(shown: list[FeedEvent], message: str) -> None:
    probe = module("probe", shifo_patient_feed=hookimpl(lambda: shown))
    with pytest.raises(ConfigurationError, match=message):
        Runtime.plan(Settings(modules=("medcard", "probe")), {"probe": probe})


class ProbeSettings(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 3


def test_settings_are_validated_when_the_modules_load() -> None:
    probe = module("probe", shifo_settings=hookimpl(lambda: ProbeSettings))
    assert Modules.load(["probe"], {"probe": probe}).settings("probe") == ProbeSettings(limit=3)
    loaded = Modules.load(["probe"], {"probe": probe}, sections={"probe": {"limit": 9}})
    assert loaded.settings("probe") == ProbeSettings(limit=9)
    with pytest.raises(ConfigurationError, match=r"module 'probe'.*limit"):
        Modules.load(["probe"], {"probe": probe}, sections={"probe": {"limit": "nine"}})
    with pytest.raises(ConfigurationError, match="unknown field"):
        Modules.load(["probe"], {"probe": probe}, sections={"probe": {"limti": 9}})


def test_default_modules_are_the_installed_entry_points() -> None:
    installed = {ep.name for ep in entry_points(group="shifo.plugins")}
    assert set(Settings().modules) == installed >= set(ALL_MODULES)
    assert Settings.from_env({}).modules == Settings().modules


def test_module_commands_come_from_the_hook_and_cannot_take_a_host_command() -> None:
    ran: list[Any] = []

    async def hello(ctx: CommandContext, args: argparse.Namespace) -> int:
        ran.append((ctx.settings, args.times))
        return 0

    def options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--times", type=int, default=1)

    command = CliCommand(name="hello", help="say hello", run=hello, arguments=options)
    probe = module("probe", shifo_cli_commands=hookimpl(lambda: [command]))
    args = cli.parser(Modules.load(["probe"], {"probe": probe})).parse_args(["probe", "hello", "--times", "2"])
    assert args.probe_command == "hello" and args.times == 2 and callable(args.run)
    clash = module("audit", shifo_cli_commands=hookimpl(lambda: [command]))
    with pytest.raises(ConfigurationError, match="'shifo audit' is the host's"):
        cli.parser(Modules.load(["audit"], {"audit": clash}))


def test_the_built_in_hooks_answer_through_pluggy() -> None:
    """The hooks the host calls once while building the app, for each built-in module by name."""
    modules = Modules.load(ALL_MODULES)
    for name in ALL_MODULES:
        hook = modules.pm.hook
        [migrations] = [i.function() for i in hook.shifo_migrations.get_hookimpls() if i.plugin_name == name]
        assert (Path(migrations) / "__init__.py").exists() or any(Path(migrations).glob("*.py"))
        [patient_routes] = [i.function() for i in hook.shifo_patient_routes.get_hookimpls()
                            if i.plugin_name == name]
        opt = own_record(f"{name}.x")["permission"]
        for handler in patient_routes:  # every patient route is the patient's own record only
            perm = handler.opt["permission"]
            assert (perm.principal, perm.action, perm.facility_scoped) == (
                opt.principal, opt.action, opt.facility_scoped)
        [demo] = [i.function() for i in hook.shifo_demo_data.get_hookimpls() if i.plugin_name == name]
        assert demo.steps and set(demo.facility_kinds) <= {"polyclinic", "hospital", "pharmacy"}
    commands = {i.plugin_name: [c.name for c in i.function()] for i in
                modules.pm.hook.shifo_cli_commands.get_hookimpls()}
    assert set(commands) == {"erecipe"} and {"expire", "export-anchors", "verify-qr"} <= set(commands["erecipe"])


BAD = [('{"medcard": {"late_after_hours": 0}}', "module 'medcard'"),
       ('{"erecipe": {"categories": {"x": {"max_validity_days": 400}}}}', "module 'erecipe'"),
       ('{"medcard": {"late_after_hours": "soon"}}', "late_after_hours"),
       ("{not json", "SHIFO_")]
COMMANDS = [("migrate",), ("routes",), ("plugins",), ("demo",), ("accounts", "list"), ("erecipe", "expire"),
            ("serve",), ("events", "failed"), ("audit", "verify"), ("status",), ("--help",)]


@pytest.mark.parametrize(("extra", "said"), BAD)
def test_a_bad_settings_section_stops_every_command_with_exit_2(
        extra: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    monkeypatch.setenv("SHIFO_EXTRA", extra)
    for args in COMMANDS:
        assert cli.main(list(args)) == 2, args
        out = capsys.readouterr()
        assert out.err.startswith("shifo: configuration error:") and said in out.err, (args, out.err)
        assert out.err.count("\n") == 1 and out.out == ""
    assert not (tmp_path / "shifo.db").exists()  # nothing was opened


def test_the_shifo_process_exits_2_with_one_line_on_a_bad_section(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_")}
    env.update(SHIFO_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}", SHIFO_EXTRA=BAD[0][0])
    out = subprocess.run([sys.executable, "-m", "host.cli", "erecipe", "expire"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.count("\n") == 1 and "module 'medcard'" in out.stderr and "Traceback" not in out.stderr
