"""``shifo erecipe export-anchors DIR`` (at the server: the trust anchors a pharmacy syncs) and
``shifo erecipe verify-qr TOKEN|FILE --anchors DIR`` (at the pharmacy, offline: no database, no
network). Exit codes of verify-qr: 0 VALID, 1 NOT VALID (the reason is printed), 2 the token or
the anchors directory is unreadable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from core.clock import utcnow
from core.errors import ConfigurationError
from host.pluginapi import CliCommand, CommandContext
from plugins.erecipe import offline_verify, qr, signing
from ports.signature import TrustAnchors


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="directory to write the CA certificates and CRLs into")


async def _export(ctx: CommandContext, args: argparse.Namespace) -> int:
    port = ctx.services.get(signing.SERVICE)
    if not isinstance(port, TrustAnchors):
        raise ConfigurationError("this deployment's signature adapter keeps no local trust anchors to "
                                 "export: give pharmacies the CA certificates and CRLs of your provider")
    args.dir.mkdir(parents=True, exist_ok=True)
    files = port.anchors()
    for name, data in files.items():
        (args.dir / name).write_bytes(data)
    print(f"wrote {len(files)} files (CA certificates and CRLs) to {args.dir}")
    return 0


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("token", help=f"the token ({qr.PREFIX}.…), as a QR scanner types it, or a file holding it")
    p.add_argument("--anchors", type=Path, required=True, help="the trust anchors synced last")
    p.add_argument("--json", action="store_true", help="the verdict as one JSON document")


def _token(given: str) -> str | None:
    """The token itself, or the text of the file it names (None, said on stderr: neither)."""
    if given.startswith(qr.PREFIX + "."):
        return given
    try:
        return Path(given).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"NOT READABLE: {given!r} is neither a token nor a readable file ({exc})", file=sys.stderr)
        return None


async def _verify(ctx: CommandContext, args: argparse.Namespace) -> int:
    token = _token(args.token)
    if token is None:
        return 2
    assert ctx.anchored_signature is not None  # the host gives it to every offline command
    verifier = await ctx.anchored_signature(args.anchors)
    try:
        seen = await offline_verify.verify(token, verifier, utcnow())
    except qr.BadToken as exc:
        print(f"NOT READABLE: {exc}", file=sys.stderr)
        return 2
    print(msgspec.json.encode(seen).decode() if args.json else offline_verify.report(seen))
    return 0 if seen.valid else 1


COMMANDS = [
    CliCommand(name="export-anchors", help="write the signature trust anchors (CA certificates, CRLs) "
               "a pharmacy syncs to verify prescriptions offline", run=_export, arguments=_export_args),
    CliCommand(name="verify-qr", help="verify a prescription's QR token offline against synced anchors",
               run=_verify, arguments=_verify_args, offline=True),
]
