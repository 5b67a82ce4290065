"""Verifying a prescription's QR token without a connection, against the trust anchors a pharmacy
synced last (CA certificates and CRLs, ``shifo erecipe export-anchors``).

Valid means: the token is readable; the detached CMS signature holds over the canonical bytes; the
signer's certificate chains to a synced anchor and is not revoked per the synced CRLs at the
signing time; the signer is the prescriber the content names (the one-request form names none:
the server tied the signer to the account when it issued); and the validity has not run out. It
cannot know of a cancellation or of dispenses since the last sync: the journal upload reconciles.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from plugins.erecipe import qr
from ports.signature import Signature


class Checked(msgspec.Struct, kw_only=True):
    valid: bool
    reason: str | None = None
    number: str | None = None
    patient: str | None = None  # the PINFL masked: the pharmacist checks the patient's ID document
    category: str | None = None
    valid_until: str | None = None
    prescriber: str | None = None
    signer_pinfl: str | None = None
    signing_time: str | None = None
    lines: list[dict[str, Any]] = msgspec.field(default_factory=list)


def mask(pinfl: str | None) -> str | None:
    return None if not pinfl else pinfl[:2] + "*" * (len(pinfl) - 6) + pinfl[-4:]


def _number(content: dict[str, Any], drafted: datetime) -> str | None:
    if "number" in content:
        return str(content["number"])
    rx = str(content.get("id", "")).replace("-", "")
    return f"{drafted:%y%m%d}-{rx[-10:].upper()}" if rx else None


def describe(content: dict[str, Any]) -> Checked:
    """What the content says, in either signed form (two-step draft or one-request order)."""
    drafted = datetime.fromisoformat(str(content["drafted_at"])).astimezone(UTC)
    until = (datetime.fromisoformat(str(content["valid_until"])) if "valid_until" in content
             else drafted + timedelta(days=int(content["valid_days"])))
    named = content.get("prescriber") or {}
    return Checked(
        valid=False, number=_number(content, drafted), patient=mask(content.get("patient_pinfl")),
        category=content.get("category"), valid_until=until.astimezone(UTC).isoformat(),
        prescriber=named.get("name"),
        lines=[{k: ln.get(k) for k in ("line", "inn", "form", "strength", "quantity", "dose")}
               for ln in content.get("lines", [])])


async def verify(token: str, verifier: Signature, now: datetime) -> Checked:
    """The verdict on ``token``; :class:`qr.BadToken` when it is not a prescription token at all."""
    canonical, signature = qr.decode(token)
    try:
        content = json.loads(canonical)
        seen = describe(content)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise qr.BadToken("the content is not a prescription") from None
    expected = (content.get("prescriber") or {}).get("pinfl")
    verdict = await verifier.verify(canonical, signature, detached=True, signer_pinfl=expected)
    seen.signer_pinfl = mask(verdict.signer_pinfl)
    seen.prescriber = seen.prescriber or verdict.signer_name
    seen.signing_time = verdict.signing_time.isoformat() if verdict.signing_time else None
    if not verdict.valid:
        seen.reason = verdict.reason or "the signature is not valid"
    elif seen.valid_until is not None and datetime.fromisoformat(seen.valid_until) <= now:
        seen.reason = f"the prescription expired at {seen.valid_until}"
    else:
        seen.valid = True
    return seen


def report(seen: Checked) -> str:
    """Lines for the pharmacist's terminal; the last says VALID or NOT VALID and why."""
    out = [f"prescription {seen.number}  category {seen.category}  valid until {seen.valid_until}",
           f"patient PINFL {seen.patient}  prescriber {seen.prescriber} (PINFL {seen.signer_pinfl})"]
    out += [f"  line {ln['line']}: {ln['inn']} {ln.get('form') or ''} {ln.get('strength') or ''} "
            f"x {ln['quantity']}  ({ln.get('dose') or ''})" for ln in seen.lines]
    out.append("VALID" if seen.valid else f"NOT VALID: {seen.reason}")
    return "\n".join(out)
