"""The SLA picture: requests installed on time against late, per month and per region, as an SVG
drawn here, and the same figures as CSV.

Each month's figures are the JSON route's (``GET /api/v1/operator/sla``) for that month:
:func:`host.operator.sla.report` with ``period_from``/``period_to`` the month's first and last day
(requests counted by the month they were applied in). The chart is hand-drawn SVG, not a plotting
library: a grouped bar chart is ~40 lines, a plotting library would add megabytes (and fonts) to
the install for one picture.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, NamedTuple

from litestar import Response, get
from litestar.params import QueryParameter
from litestar.response import Template
from markupsafe import Markup

from core import clock
from host.console_web.pages import Req, op, page, t
from host.operator import calendar, config, sla
from host.operator.web import runtime

Months = Annotated[int, QueryParameter(name="months", ge=1, le=36)]
Region = Annotated[str | None, QueryParameter(name="region", max_length=100)]
_LEFT, _BASE, _PLOT, _HEIGHT = 36, 150, 130, 196
_GREEN, _RED = "#2e7d32", "#c62828"


class Bars(NamedTuple):
    label: str
    on_time: int
    late: int


def chart(groups: Sequence[Bars], *, title: str, on_time: str, late: str, group_width: int = 56) -> Markup:
    """A grouped bar chart (on time, late) as an SVG document; every text is escaped by ``Markup``."""
    top = max([max(g.on_time, g.late) for g in groups] + [1])
    width, scale = max(_LEFT + group_width * len(groups) + 16, _LEFT + 300), _PLOT / top  # legend fits
    parts = [Markup('<svg xmlns="http://www.w3.org/2000/svg" class="sla-chart" role="img" width="{w}" '
                 'height="{h}" viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" aria-label="{t}">'
                 '<title>{t}</title>'
                 '<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#555"/>'
                 '<text x="{x}" y="{y}" text-anchor="end" font-size="10">{top}</text>'
                 '<text x="{x}" y="{b4}" text-anchor="end" font-size="10">0</text>').format(
        w=width, h=_HEIGHT, t=title, l=_LEFT, b=_BASE, r=width - 8, x=_LEFT - 6, y=_BASE - _PLOT + 4,
        top=top, b4=_BASE + 4)]
    for i, g in enumerate(groups):
        x = _LEFT + i * group_width + 6
        parts.append(Markup('<g class="group" data-label="{}">').format(g.label))
        for k, (kind, value, colour, name) in enumerate((("on-time", g.on_time, _GREEN, on_time),
                                                         ("late", g.late, _RED, late))):
            h = round(value * scale, 1)
            parts.append(Markup('<rect class="bar {}" data-value="{}" x="{}" y="{}" width="18" height="{}" '
                             'fill="{}"><title>{}: {} {}</title></rect>').format(
                kind, value, x + k * 20, _BASE - h, h, colour, g.label, name, value))
        parts.append(Markup('<text x="{}" y="{}" text-anchor="middle" font-size="10">{}</text></g>').format(
            x + 19, _BASE + 14, g.label))
    y = _HEIGHT - 10
    parts.append(Markup('<rect x="{l}" y="{y9}" width="10" height="10" fill="{g}"/>'
                     '<text x="{l14}" y="{y}" font-size="11">{on}</text>'
                     '<rect x="{l110}" y="{y9}" width="10" height="10" fill="{r}"/>'
                     '<text x="{l124}" y="{y}" font-size="11">{late}</text></svg>').format(
        l=_LEFT, y9=y - 9, g=_GREEN, l14=_LEFT + 14, y=y, on=on_time, l110=_LEFT + 150, r=_RED,
        l124=_LEFT + 164, late=late))
    return Markup("").join(parts)


def _month_starts(today: date, months: int) -> list[date]:
    first, out = today.replace(day=1), []
    for _ in range(months):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return out[::-1]


def _month_end(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


async def figures(request: Req, months: int, region: str | None) -> list[tuple[str, sla.SlaReport]]:
    """``(YYYY-MM, the JSON route's report for that month)`` for the last ``months`` months."""
    rt, cfg = runtime(request), config.of(runtime(request).settings)
    today = clock.utcnow().date()
    async with rt.storage.transaction(readonly=True) as tx:
        cal = await calendar.load(tx, cfg.week_days)
        return [(start.strftime("%Y-%m"), await sla.report(
            tx, cal, today, soon=cfg.due_soon_working_days, period_from=start,
            period_to=_month_end(start), region=region)) for start in _month_starts(today, months)]


def _charts(request: Req, months: list[tuple[str, sla.SlaReport]]) -> tuple[Markup, Markup]:
    by_month = [Bars(m, sum(r.on_time for r in rep.regions), sum(r.late for r in rep.regions))
                for m, rep in months]
    regions: dict[str, list[int]] = {}
    for _m, rep in months:
        for line in rep.regions:
            totals = regions.setdefault(line.region, [0, 0])
            totals[0] += line.on_time
            totals[1] += line.late
    by_region = [Bars(name, *totals) for name, totals in sorted(regions.items())]
    on_time, late = t(request, "On time"), t(request, "Late")
    return (chart(by_month, title=t(request, "Installed on time and late, by month"), on_time=on_time,
                  late=late),
            chart(by_region, title=t(request, "Installed on time and late, by region"), on_time=on_time,
                  late=late, group_width=96))


@get("/sla", opt=op("installation", "read"), include_in_schema=False)
async def picture(request: Req, months: Months = 12, region: Region = None) -> Template:
    data = await figures(request, months, region)
    monthly, regional = _charts(request, data)
    return page(request, "sla.html.j2", nav="sla", months=months, region=region or "", data=data,
                monthly=monthly, regional=regional)


@get("/sla/chart.svg", opt=op("installation", "read"), include_in_schema=False)
async def chart_svg(request: Req, months: Months = 12, region: Region = None) -> Response[str]:
    monthly, _regional = _charts(request, await figures(request, months, region))
    return Response(str(monthly), media_type="image/svg+xml")


def _cell(text: str) -> str:
    """A spreadsheet must not run a region name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


COLUMNS = ("month", "region", "on_time", "late", "overdue", "due_soon", "open_on_track")


@get("/sla/export.csv", opt=op("installation", "read"), include_in_schema=False)
async def sla_csv(request: Req, months: Months = 12, region: Region = None) -> Response[str]:
    out = io.StringIO()
    rows = csv.writer(out)
    rows.writerow(COLUMNS)
    for month, rep in await figures(request, months, region):
        for line in rep.regions:
            rows.writerow([month, _cell(line.region), line.on_time, line.late, line.overdue, line.due_soon,
                           line.open_on_track])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="sla.csv"'})


HANDLERS = [picture, chart_svg, sla_csv]
