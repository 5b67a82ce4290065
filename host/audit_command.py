"""``shifo audit verify|checkpoint``: walk the audit chains, check them against the keyed checkpoints.

``verify`` exits 3 when a chain or the checkpoints are broken, and prints the newest checkpoint's
number and MAC: record that pair outside the database (as the log line of each checkpoint allows)
and give it to a later ``verify --expect N:MAC``, which then also detects checkpoints removed from
the end, or all of them (see :mod:`host.audit_ledger`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.errors import ConfigurationError
from host import audit, audit_anchor, audit_key
from host.audit_ledger import LEDGER
from host.console import opened
from host.settings import Settings


async def run(settings: Settings, args: argparse.Namespace) -> int:
    key = audit_key.key_of(settings)
    if args.audit_command == "checkpoint":
        if key is None:
            raise ConfigurationError("no audit key: set SHIFO_AUDIT_KEY (or SHIFO_AUDIT_KEY_FILE)")
        async with opened(settings) as rt:
            n = await audit_anchor.Checkpointer(rt.storage, key, 0).round(wait=True)
        print(f"audit checkpoint {n} written" if n else "audit checkpoint: nothing new to anchor")
        return 0
    try:
        expect = audit_anchor.parse_expect(args.expect) if getattr(args, "expect", None) else None
    except ValueError as exc:
        raise ConfigurationError(f"--expect: {exc}") from exc
    if expect is not None and key is None:
        raise ConfigurationError("--expect needs the audit key (SHIFO_AUDIT_KEY)")
    tip, fresh = None, False
    async with opened(settings) as rt:
        report = await audit.verify(rt.storage)
        if key is None:
            print("audit: no audit key (SHIFO_AUDIT_KEY): the chains' tails are not anchored",
                  file=sys.stderr)
        else:
            report, tip = await audit_anchor.anchor(rt.storage, key, report, expect)
            fresh = tip.n == 0 and bool(report.heads)
            if report.ok:
                tip = await audit_anchor.checkpoint(rt.storage, key, tip, report.heads) or tip
    for bad in report.findings:
        where = (f"checkpoints BROKEN at checkpoint {bad.seq}" if bad.chain == LEDGER
                 else f"chain {bad.chain} BROKEN at entry {bad.seq}")
        print(f"audit {where} ({bad.problem}): {bad.detail}", file=sys.stderr)
    state = "intact" if report.ok else f"BROKEN ({len(report.findings)} finding(s)), verified"
    print(f"audit trail {state}: {report.entries} entries in {len(report.heads)} chain(s); "
          f"root {report.root}", file=sys.stdout if report.ok else sys.stderr)
    for head in report.heads:
        print(f"  chain {head.chain}: head {head.seq} {head.hash}")
    if fresh:  # nothing tells a first run from one after every checkpoint was removed, but --expect
        print("audit: there was no checkpoint under this audit key: the tails were not anchored; if "
              "checkpoints were published before, they were removed (check with --expect N:MAC)",
              file=sys.stderr)
    if tip is not None and tip.n:
        print(f"audit checkpoint {tip.n} {tip.mac} (record it outside the database; check it later "
              f"with --expect {tip.n}:{tip.mac})")
    return 0 if report.ok else 3


def add_parsers(sub: Any) -> None:
    audit_ = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True, metavar="action")
    verify = audit_.add_parser("verify", help="walk the hash chains and check them against the keyed "
                               "checkpoints; exit 3 if broken, truncated, re-hashed or forged")
    verify.add_argument("--expect", metavar="N[:MAC]", help="a checkpoint published before (logged at "
                        "each checkpoint, printed by verify): detects checkpoints removed from the end")
    audit_.add_parser("checkpoint", help="anchor the chain heads with a keyed checkpoint now")
