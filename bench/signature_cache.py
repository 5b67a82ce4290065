"""What the cache of validated certificate paths saves: X.509/CMS verifications per second and
their p50/p99 latency with the cache on and off, in the same run, on the test PKI.

    .venv/bin/python bench/signature_cache.py                # 3 rounds of 3 s per mode
    .venv/bin/python bench/signature_cache.py --seconds 1 --rounds 1 --concurrency 4

Each round measures both modes back to back (alternating which goes first); the figures are the
medians of the rounds. The signatures are made beforehand, a few per signer, so only verification
is timed: it goes through ``X509Signature.verify`` exactly as the erecipe module calls it (on the
event loop over a cached path, in a worker thread where the path is validated). With the cache
on, each signer's first verification validates the path; the warm-up pays for it, as the first
prescription of a working day would.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustStore
from adapters.signature.x509 import X509Signature
from core.canonical import canonical_json
from ports.kits.pki import DAY, TestPki, make_person, sign_cms


@dataclass(frozen=True)
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float


def signatures(pki: TestPki, signers: int, each: int) -> list[tuple[bytes, bytes]]:
    """(content, detached signature) pairs: ``each`` prescriptions by each of ``signers`` doctors."""
    pairs = []
    for n in range(signers):
        pinfl = f"{42807920150000 + n:014d}"
        doctor = make_person(pki.ca, pinfl, f"Doctor {n}", not_before=pki.now - DAY,
                             not_after=pki.now + 365 * DAY)
        for k in range(each):
            content = canonical_json({"patient": "30101901234569", "drug": "Amoksitsillin 500 mg",
                                      "quantity": k + 1, "doctor": pinfl})
            pairs.append((content, sign_cms(doctor, content, detached=True)))
    return pairs


async def measure(adapter: X509Signature, pairs: list[tuple[bytes, bytes]], seconds: float,
                  concurrency: int) -> Figures:
    for content, signature in pairs:  # warm-up: every signer seen once
        assert (await adapter.verify(content, signature)).valid
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            content, signature = pairs[i % len(pairs)]
            started = time.perf_counter()
            result = await adapter.verify(content, signature)
            latencies.append(time.perf_counter() - started)
            assert result.valid, result.reason
            i += 7

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return Figures(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--signers", type=int, default=20)
    parser.add_argument("--per-signer", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1, help="verifications in flight")
    args = parser.parse_args()
    pki = TestPki()
    trust = TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem])
    pairs = signatures(pki, args.signers, args.per_signer)
    runs: dict[str, list[Figures]] = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for mode in (("off", "on") if round_ % 2 == 0 else ("on", "off")):
            adapter = X509Signature(trust, paths=PathCache() if mode == "on" else None)
            runs[mode].append(await measure(adapter, pairs, args.seconds, args.concurrency))
    print(f"X.509/CMS verification, {args.signers} signers x {args.per_signer} signatures, "
          f"concurrency {args.concurrency}, median of {args.rounds} rounds of {args.seconds:g} s")
    median = {mode: Figures(*(statistics.median(getattr(f, name) for f in figures)
                              for name in ("per_second", "p50_ms", "p99_ms")))
              for mode, figures in runs.items()}
    for mode, f in median.items():
        print(f"  cache {mode:3}: {f.per_second:7.0f} verifications/s   p50 {f.p50_ms:5.2f} ms   "
              f"p99 {f.p99_ms:5.2f} ms")
    print(f"  on/off: {median['on'].per_second / median['off'].per_second:.2f}x the throughput, "
          f"p50 {median['off'].p50_ms - median['on'].p50_ms:.2f} ms saved per verification")


if __name__ == "__main__":
    asyncio.run(main())
