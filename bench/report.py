"""Statistics every benchmark shares (runs grouped by what they measured, medians over rounds,
nearest-rank percentiles), ``run.py``'s printed table and the results file."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

GOAL = 0.8  # the project must reach at least 0.8x the bare baseline's throughput on both paths


Run = dict[str, Any]


def grouped(runs: Iterable[Run], *fields: str) -> dict[tuple[Any, ...], list[Run]]:
    """The runs by their values of ``fields`` (the rounds of one contender), in the order first seen."""
    out: dict[tuple[Any, ...], list[Run]] = defaultdict(list)
    for run in runs:
        out[tuple(run[f] for f in fields)].append(run)
    return dict(out)


def medians_of(runs: list[Run], fields: Iterable[str]) -> dict[str, float]:
    """The median over ``runs`` of each of ``fields``."""
    return {f: statistics.median(r[f] for r in runs) for f in fields}


def percentile(values: Iterable[float], share: float) -> float:
    """Nearest rank (NaN for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * share // 100))
    return ordered[int(rank) - 1]


def medians(runs: list[Run]) -> dict[tuple[str, str, int], dict[str, float]]:
    """(contender, path, connections) -> median req/s, p50 and p99 (ms) over the rounds."""
    out: dict[tuple[str, str, int], dict[str, float]] = {}
    for key, rs in grouped(runs, "contender", "path", "connections").items():
        m = medians_of(rs, ("rps", "p50_us", "p99_us"))
        out[key] = {"rps": m["rps"], "p50_ms": m["p50_us"] / 1000, "p99_ms": m["p99_us"] / 1000,
                    "rounds": len(rs)}
    return out


def _lat(m: dict[str, float] | None) -> str:
    return f"{m['p50_ms']:.2f} / {m['p99_ms']:.2f}" if m else "-"


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> float | None:
    return a["rps"] / b["rps"] if a and b and b["rps"] else None


def table(summary: dict[tuple[str, str, int], dict[str, float]], paths: list[str], conns: list[int],
          versus: str = "baseline") -> tuple[str, list[dict[str, Any]]]:
    """The project against ``versus``: one line per path and connection count."""
    head = (f"{'path':<6} {'conns':>5} {'project req/s':>14} {versus + ' req/s':>16} {'ratio':>6}  "
            f"{'project p50/p99 ms':>19}  {versus + ' p50/p99 ms':>21}")
    lines, rows = [head, "-" * len(head)], []
    for path in paths:
        for c in conns:
            p, b = summary.get(("project", path, c)), summary.get((versus, path, c))
            ratio = _ratio(p, b)
            rows.append({"path": path, "connections": c, "project": p, versus: b, "ratio": ratio})
            shown = f"{ratio:.2f}" if ratio is not None else "-"
            lines.append(f"{path:<6} {c:>5} {p['rps'] if p else 0:>14.1f} {b['rps'] if b else 0:>16.1f} "
                         f"{shown:>6}  {_lat(p):>19}  {_lat(b):>21}")
    return "\n".join(lines), rows


def verdict(rows: list[dict[str, Any]]) -> str:
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    if not ratios:
        return "no ratio measured"
    worst = min(ratios)
    met = "met" if worst >= GOAL else "NOT met"
    return f"worst ratio {worst:.2f} (goal >= {GOAL}x the baseline on every path and level): {met}"


def write(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
