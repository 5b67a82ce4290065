"""``shifo import medicines FILE`` (also ``shifo erecipe import-medicines FILE``): the national
medicines register from CSV.

A module's command named ``import-<kind>`` joins ``shifo import`` beside the host's staff and
patient imports, and behaves like them: a
progress line, each rejected row with its line and reason (``--rejects`` writes them to a CSV),
exit 4 when any row was rejected, and a re-run of the same file changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from pathlib import Path

from core.clock import utcnow
from core.errors import ConfigurationError
from host.pluginapi import CliCommand, CommandContext
from plugins.erecipe.medicines_csv import COLUMNS, BadFile, delimiter_of
from plugins.erecipe.medicines_import import import_file

REJECTED = 4


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help=f"CSV with the header {','.join(COLUMNS)}")
    p.add_argument("--encoding", default="utf-8-sig", help="the file's encoding, e.g. cp1251 (default UTF-8)")
    p.add_argument("--delimiter", default=None, help="';' or ',' (default: the one the header line uses)")
    p.add_argument("--rejects", help="write the rejected rows, with line and reason, to this CSV "
                   "file (the input's encoding and delimiter): fix them and import it")


async def _run(ctx: CommandContext, args: argparse.Namespace) -> int:
    try:
        data = await asyncio.to_thread(Path(args.file).read_bytes)
        shown = sys.stderr if sys.stderr.isatty() else None  # progress only at a terminal
        report = await import_file(ctx.storage, data, utcnow(), encoding=args.encoding,
                                   delimiter=args.delimiter, progress=shown)
    except (OSError, BadFile) as exc:
        raise ConfigurationError(f"{args.file}: {exc}") from None
    print(report.summary())
    for r in report.rejected[:50]:
        print(f"  line {r.line}: {r.reason}")
    if len(report.rejected) > 50:
        print(f"  ... and {len(report.rejected) - 50} more")
    if args.rejects:  # the rows as read, then line and reason, in the file's encoding and delimiter
        out = io.StringIO(newline="")
        sep = args.delimiter or delimiter_of(data.split(b"\n", 1)[0].decode(args.encoding, "replace"))
        w = csv.writer(out, delimiter=sep, lineterminator="\n")
        w.writerow([*COLUMNS, "line", "reason"])
        w.writerows([*(r.row.get(c, "") for c in COLUMNS), r.line, r.reason] for r in report.rejected)
        text = out.getvalue().encode(args.encoding, "replace")
        await asyncio.to_thread(Path(args.rejects).write_bytes, text)
    return REJECTED if report.rejected else 0


COMMAND = CliCommand(name="import-medicines", help="import the medicines register from CSV (versioned, "
                     "idempotent; cp1251 and ';' accepted)", run=_run, arguments=_arguments)
