"""Each enabled module's commands on the ``shifo`` command line: ``shifo <module> <name>``, and a
module's ``import-<kind>`` also as ``shifo import <kind>``, beside the host's ``staff`` and
``patients``, so a clerk finds every import in one place. Kept apart from :mod:`host.cli` because
this is the one part of the parser that the hooks (``shifo_cli_commands``) shape.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

from core.errors import ConfigurationError
from host import adapters
from host.console import opened
from host.modules import Modules
from host.pluginapi import CliCommand, CommandContext
from host.settings import Settings
from ports.storage import Storage


async def anchored(anchors: Path) -> Any:
    """The ``x509`` signature adapter over a directory of synced trust anchors (offline commands)."""
    chosen = Settings(signature_adapter="x509", signature_path_cache=False,
                      extra={"signature_trust_dir": str(anchors)})
    return await adapters.create("signature", "x509", chosen)


def module_command(module: str, command: CliCommand) -> Any:
    """``shifo <module> <name>``: the module's command (hook ``shifo_cli_commands``), run with the
    ports connected and the module's settings."""

    async def run(settings: Settings, args: argparse.Namespace) -> int:
        if command.offline:  # no ports: e.g. a pharmacy verifying a prescription without a connection
            chosen = Modules.load(settings.modules, sections=settings.extra).settings(module)
            return await command.run(CommandContext(storage=cast(Storage, None), services={},
                                                    settings=chosen, anchored_signature=anchored), args)
        async with opened(settings) as rt:
            return await command.run(CommandContext(
                storage=rt.storage, services=rt.services, settings=rt.modules.settings(module)), args)

    return run


def add_parsers(sub: Any, kinds: Any, modules: Modules, taken: Collection[str]) -> None:
    """Add every enabled module's commands to ``sub`` (``shifo``'s subcommands) and its imports to
    ``kinds`` (``shifo import``'s). A module named like a host command (``taken``) or an import
    kind already there is a configuration error, not a silent shadowing."""
    for info, provided in modules.cli_commands():
        if info.name in taken:
            raise ConfigurationError(f"module {info.name!r} cannot add commands: "
                                     f"'shifo {info.name}' is the host's")
        actions = sub.add_parser(info.name, help=info.title).add_subparsers(
            dest=f"{info.name}_command", required=True, metavar="action")
        for command in provided:
            options = actions.add_parser(command.name, help=command.help)
            if command.arguments is not None:
                command.arguments(options)
            options.set_defaults(run=module_command(info.name, command))
            if command.name.startswith("import-"):  # also `shifo import <kind>`, beside staff and patients
                kind = command.name.removeprefix("import-")
                if kind in kinds.choices:
                    raise ConfigurationError(f"module {info.name!r} cannot add 'shifo import {kind}': "
                                             "it is taken")
                alias = kinds.add_parser(kind, help=f"{command.help} (the {info.name} module's)")
                if command.arguments is not None:
                    command.arguments(alias)
                alias.set_defaults(run=module_command(info.name, command))
