"""Reads of the double early warning: the dashboard's figures, scoped to the caller.

Every figure is one aggregate query over the scoped warnings or deliveries; the chart
geometry (server-rendered SVG, no JavaScript) is computed here so the template only draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Q
from django.utils import timezone

from yibao_site.scoping import scope_queryset

from . import rules
from .models import DeliveryStatus, PersonWarning, WarningDelivery, WarningKind, WarningStatus


def warnings_for(user):
    return scope_queryset(PersonWarning.objects.all(), user)


def deliveries_for(user):
    return scope_queryset(WarningDelivery.objects.all(), user)


def unacknowledged_deliveries(user):
    """Deliveries the departments have not acknowledged yet, oldest month first."""
    return (deliveries_for(user).filter(acknowledged_at__isnull=True)
            .select_related("run__region").order_by("run__month", "run__region__code", "department"))


@dataclass
class MonthBar:
    month: date
    return_count: int = 0
    into_count: int = 0
    new_count: int = 0
    # geometry (filled by _layout)
    x: float = 0
    width: float = 0
    return_y: float = 0
    return_h: float = 0
    into_y: float = 0
    into_h: float = 0
    new_y: float = 0

    @property
    def total(self) -> int:
        return self.return_count + self.into_count

    @property
    def continuing_count(self) -> int:
        return self.total - self.new_count

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


@dataclass
class TownshipBar:
    code: str
    name: str
    district: str = ""  # the county (区/县) above it: two districts may each have a 城关镇
    return_count: int = 0
    into_count: int = 0
    return_pct: float = 0
    into_pct: float = 0

    @property
    def total(self) -> int:
        return self.return_count + self.into_count

    @property
    def label(self) -> str:
        return f"{self.district} · {self.name}" if self.district else self.name


@dataclass
class Dashboard:
    months: list[MonthBar]
    month: date | None
    townships: list[TownshipBar]
    unacknowledged: list
    unacknowledged_count: int
    failed_count: int
    open_count: int
    chart: dict = field(default_factory=dict)


CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 720, 240, 40, 28, 12


def _layout(bars: list[MonthBar]) -> dict:
    """Place stacked bars (return over into) and the "new this month" trend line."""
    top = max([b.total for b in bars] + [1])
    plot_h, plot_w = CHART_H - PAD_B - PAD_T, CHART_W - PAD_L - 8
    slot = plot_w / max(len(bars), 1)
    scale = plot_h / top
    base = PAD_T + plot_h
    points = []
    for i, bar in enumerate(bars):
        bar.width = round(slot * 0.6, 1)
        bar.x = round(PAD_L + i * slot + slot * 0.2, 1)
        bar.into_h = round(bar.into_count * scale, 1)
        bar.into_y = round(base - bar.into_h, 1)
        bar.return_h = round(bar.return_count * scale, 1)
        bar.return_y = round(bar.into_y - bar.return_h, 1)
        bar.new_y = round(base - bar.new_count * scale, 1)
        points.append(f"{round(bar.x + bar.width / 2, 1)},{bar.new_y}")
    ticks = [{"value": v, "y": round(base - v * scale, 1)} for v in sorted({0, top // 2, top})]
    return {"width": CHART_W, "height": CHART_H, "base": base, "left": PAD_L, "right": CHART_W - 8,
            "trend": " ".join(points), "ticks": ticks, "label_y": CHART_H - 8}


def dashboard(user, *, month: date | None = None, months: int = 12) -> Dashboard:
    """Warnings per month (by kind, with the new ones as a trend), per township for one month,
    and the deliveries still unacknowledged."""
    warnings = warnings_for(user)
    latest = warnings.order_by("-month").values_list("month", flat=True).first()
    end = month or latest or timezone.localdate().replace(day=1)
    start = end
    for _ in range(months - 1):
        start = rules.previous_month(start)
    per_month: dict[date, MonthBar] = {}
    cursor = start
    while cursor <= end:
        per_month[cursor] = MonthBar(cursor)
        cursor = rules.next_month(cursor)
    rows = (warnings.filter(month__gte=start, month__lte=end).values("month", "kind")
            .annotate(n=Count("id"), new=Count("id", filter=Q(is_new=True))).order_by())
    for row in rows:
        bar = per_month[row["month"]]
        if row["kind"] == WarningKind.RETURN_TO_POVERTY:
            bar.return_count = row["n"]
        else:
            bar.into_count = row["n"]
        bar.new_count += row["new"]
    bars = list(per_month.values())
    chart = _layout(bars)
    towns: dict[str, TownshipBar] = {}
    for row in (warnings.filter(month=end).values("township__code", "township__name", "township__parent__name", "kind")
                .annotate(n=Count("id")).order_by("township__code")):
        bar = towns.setdefault(row["township__code"], TownshipBar(row["township__code"], row["township__name"],
                                                                  row["township__parent__name"] or ""))
        if row["kind"] == WarningKind.RETURN_TO_POVERTY:
            bar.return_count = row["n"]
        else:
            bar.into_count = row["n"]
    widest = max([t.total for t in towns.values()] + [1])
    for t in towns.values():
        t.return_pct = round(100 * t.return_count / widest, 1)
        t.into_pct = round(100 * t.into_count / widest, 1)
    pending = unacknowledged_deliveries(user)
    counts = pending.aggregate(n=Count("id"), failed=Count("id", filter=Q(status=DeliveryStatus.FAILED)))
    return Dashboard(
        months=bars, month=end, townships=sorted(towns.values(), key=lambda t: (-t.total, t.code)),
        unacknowledged=list(pending[:100]), unacknowledged_count=counts["n"], failed_count=counts["failed"],
        open_count=warnings.filter(status=WarningStatus.OPEN).count(), chart=chart,
    )
