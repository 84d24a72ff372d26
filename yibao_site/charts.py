"""Charts beside report tables: Chart.js (vendored under ``yibao_site/static/yibao/vendor/
chartjs/``, served by the app itself — no CDN).

A view builds a chart with :func:`chart` from labels and named series and puts it in the
context; the template renders it with ``{% include "yibao/chart.html" with chart=fund_chart %}``
(after ``{% load yibao %}``).  The config travels through ``json_script`` (no string
concatenation into JavaScript) and ``static/yibao/charts.js`` draws every ``[data-chart]``
canvas on the page.  Money series are rounded to fen; the tooltip shows ``1,659,025.51``.
"""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .formatting import money_number

# Tailwind's blue / amber / emerald / rose / violet / slate 500: distinguishable, print as greys.
PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#f43f5e", "#8b5cf6", "#64748b", "#06b6d4", "#84cc16"]
KINDS = {"bar", "line", "doughnut", "pie"}


@dataclass
class Chart:
    kind: str
    title: str
    labels: list[str]
    datasets: list[dict]
    money: bool = True
    stacked: bool = False
    element_id: str = field(default_factory=lambda: f"chart-{uuid.uuid4().hex[:8]}")

    @property
    def data_id(self) -> str:
        return f"{self.element_id}-data"

    def config(self) -> dict:
        options: dict = {"responsive": True, "maintainAspectRatio": False, "animation": False,
                         "plugins": {"legend": {"position": "bottom"}, "title": {"display": bool(self.title),
                                                                                 "text": self.title}}}
        if self.kind in {"bar", "line"}:
            options["scales"] = {"x": {"stacked": self.stacked}, "y": {"stacked": self.stacked, "beginAtZero": True}}
        return {"type": self.kind, "data": {"labels": self.labels, "datasets": self.datasets},
                "options": options, "yibao": {"money": self.money}}


def chart(kind: str, labels: Iterable, series: Sequence[tuple[str, Iterable]] | dict, *, title: str = "",
          money: bool = True, stacked: bool = False) -> Chart:
    """``chart("bar", ["2026-01", "2026-02"], [("基本医保", [Decimal("1.005"), 2])], title="…")``.

    ``series`` is a list of ``(name, values)`` (or a dict name → values); values may be
    Decimals, ints or None.  Money values are rounded half-up to fen."""
    if kind not in KINDS:
        raise ValueError(f"unknown chart kind {kind!r}")
    labels = [str(label) for label in labels]
    items = list(series.items()) if isinstance(series, dict) else list(series)
    colours = itertools.cycle(PALETTE)
    datasets = []
    for name, values in items:
        numbers = [money_number(v) if money else (None if v is None else float(v)) for v in values]
        if len(numbers) != len(labels):
            raise ValueError(f"series {name!r} has {len(numbers)} values for {len(labels)} labels")
        if kind in {"doughnut", "pie"}:
            colour = [next(colours) for _ in numbers]
        else:
            colour = next(colours)
        datasets.append({"label": str(name), "data": numbers, "backgroundColor": colour, "borderColor": colour})
    return Chart(kind=kind, title=str(title), labels=labels, datasets=datasets, money=money, stacked=stacked)


def pairs_chart(kind: str, pairs: Iterable[tuple], *, name: str, title: str = "", money: bool = True) -> Chart:
    """One series from ``[(label, value), …]``."""
    pairs = list(pairs)
    return chart(kind, [p[0] for p in pairs], [(name, [p[1] for p in pairs])], title=title, money=money)
