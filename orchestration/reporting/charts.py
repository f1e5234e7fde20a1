"""A project's trend against its targets as a PNG: per month, the measures its targets are set
on (targets.shown_kpis), each with its target line, and the participants as bars for scale.

`chart_plan` decides what is drawn (plain data, tested); `trend_png` only draws it. Used by the
Dagster asset metadata (coordinators) and the one-page funder report, which passes a trend with
the months disclosure control hides left out. matplotlib with the Agg backend: no display, no
network.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from orchestration.lib import kpis
from orchestration.projects.config import Project
from orchestration.reporting.kpi_names import KPI_LABELS
from orchestration.reporting.targets import ALWAYS_SHOWN, PACE_KPI, format_value, shown_kpis


@dataclass(frozen=True)
class Trend:
    """Whole-project totals per month: kpi → one value per period (None: no figure, or hidden
    in a funder chart)."""

    periods: list[str]
    series: dict[str, list[float | None]] = field(default_factory=dict)

    def values(self, kpi: str) -> list[float | None]:
        return self.series.get(kpi, [None] * len(self.periods))


@dataclass(frozen=True)
class Series:
    kpi: str
    label: str
    values: list[float | None]
    axis: str                      # 'count', 'share' or 'days': which scale it is drawn on
    style: str                     # 'bars', 'line' or 'pace' (a target to date, dashed)


@dataclass(frozen=True)
class TargetLine:
    kpi: str
    label: str
    value: float
    axis: str


@dataclass(frozen=True)
class ChartPlan:
    title: str
    periods: list[str]
    series: list[Series]
    target_lines: list[TargetLine]

    def axes(self) -> list[str]:
        """The scales in use, count first: the first is the left axis, the second the right one,
        a third gets a panel of its own."""
        used = {s.axis for s in self.series}
        return [axis for axis in ("count", "share", "days") if axis in used]


def chart_plan(project: Project, trend: Trend) -> ChartPlan:
    """What the chart of a project shows: participants as bars (with the target to date as a
    dashed line when participants have a target), and every other measure with a target as a
    line with its target as a dotted line; activity_share when no other measure has a target."""
    series, lines = [], []
    for kpi in shown_kpis(project):
        kind = kpis.shown_as(kpi)
        label = KPI_LABELS.get(kpi, kpi)
        series.append(Series(kpi, label, trend.values(kpi), kind, "bars" if kpi == ALWAYS_SHOWN else "line"))
        target = project.targets.get(kpi)
        if target is None:
            continue
        if kpi == ALWAYS_SHOWN:
            series.append(Series(PACE_KPI, f"{KPI_LABELS[PACE_KPI]}, {format_value(kind, target)} vid projektets slut",
                                 trend.values(PACE_KPI), kind, "pace"))
        else:
            lines.append(TargetLine(kpi, f"Mål {format_value(kind, target)}: {label[0].lower()}{label[1:]}", target, kind))
    return ChartPlan(project.name, list(trend.periods), series, lines)


AXIS_LABELS = {"count": "Antal personer", "share": "Andel", "days": "Dagar"}
COLOURS = ["#e6550d", "#31a354", "#756bb1", "#636363"]   # lines; bars and pace are blue


def _axis_label(plan: ChartPlan, axis: str) -> str:
    """The measure's own name when the axis carries one measure (the pace line is not one)."""
    measures = [s for s in plan.series if s.axis == axis and s.style != "pace"]
    return measures[0].label if len(measures) == 1 else AXIS_LABELS[axis]


def trend_png(project: Project, trend: Trend) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    plan = chart_plan(project, trend)
    scales = plan.axes()
    panels = 2 if len(scales) > 2 else 1
    figure, grid = plt.subplots(panels, 1, figsize=(8, 3.6 * panels), dpi=100, squeeze=False, sharex=True)
    axes = {scales[0]: grid[0][0]}
    if len(scales) > 1:
        axes[scales[1]] = grid[0][0].twinx()
    if len(scales) > 2:
        axes[scales[2]] = grid[1][0]
    x = list(range(len(plan.periods)))
    colours = iter(COLOURS)
    colour_of: dict[str, str] = {}
    handles = []                      # in the plan's order: the legend reads like the report's table
    for s in plan.series:
        ax = axes[s.axis]
        if s.style == "bars":
            shown = [(i, v) for i, v in zip(x, s.values) if v is not None]
            handles.append(ax.bar([i for i, _ in shown], [v for _, v in shown], color="#9ecae1", label=s.label))
        elif s.style == "pace":
            handles += ax.plot(x, _gaps(s.values), color="#3182bd", linestyle="--", label=s.label)
        else:
            colour_of[s.kpi] = next(colours, "#636363")
            handles += ax.plot(x, _gaps(s.values), color=colour_of[s.kpi], marker=".", label=s.label)
    for line in plan.target_lines:
        handles.append(axes[line.axis].axhline(line.value, color=colour_of.get(line.kpi, "#636363"), linestyle=":",
                                               label=line.label))
    for scale, ax in axes.items():
        ax.set_ylabel(_axis_label(plan, scale), fontsize=8)
        if scale == "share":
            top = max([1.0, *(v for s in plan.series if s.axis == "share" for v in s.values if v is not None)])
            ax.set_ylim(0, top * (1.05 if top > 1 else 1))
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        else:
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # persons and days are whole
    bottom = grid[-1][0]
    step = max(1, len(plan.periods) // 8)
    bottom.set_xticks(x[::step], plan.periods[::step], rotation=0, fontsize=8)
    grid[0][0].set_title(plan.title, fontsize=10)
    if handles:
        # below the plot: a legend inside would cover the bars and lines it names
        figure.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=2, fontsize=7,
                      frameon=False)
    legend_rows = (len(handles) + 1) // 2
    figure.tight_layout(rect=(0, (0.02 + 0.045 * legend_rows) / panels, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _gaps(values: list[float | None]) -> list[float]:
    """A missing figure as NaN, so the line breaks there instead of reaching zero."""
    return [math.nan if v is None else v for v in values]
