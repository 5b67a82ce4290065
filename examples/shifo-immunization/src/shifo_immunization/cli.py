"""``shifo immunization coverage``: doses recorded per facility and vaccine (hook ``shifo_cli_commands``)."""

from __future__ import annotations

import argparse

from sqlalchemy import func, select

from host.pluginapi import CliCommand, CommandContext
from shifo_immunization.tables import doses


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--facility", help="only this facility")


async def coverage(ctx: CommandContext, args: argparse.Namespace) -> int:
    query = (select(doses.c.facility, doses.c.vaccine, func.count(), func.count(doses.c.pinfl.distinct()))
             .group_by(doses.c.facility, doses.c.vaccine).order_by(doses.c.facility, doses.c.vaccine))
    if args.facility:
        query = query.where(doses.c.facility == args.facility)
    async with ctx.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(query)).all()
    print(f"{'FACILITY':<12}{'VACCINE':<10}{'DOSES':>6}{'PATIENTS':>10}")
    for facility, vaccine, count, people in rows:
        print(f"{facility:<12}{vaccine:<10}{count:>6}{people:>10}")
    return 0


COMMANDS = [CliCommand(name="coverage", help="doses recorded per facility and vaccine", run=coverage,
                       arguments=_arguments)]
