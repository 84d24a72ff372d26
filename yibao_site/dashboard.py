"""The admin home page: what is waiting for each role (待办).

Apps register providers with :func:`register`; a provider takes the request and returns a
list of :class:`Item`s it wants shown (already filtered to the user's role and scope).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_providers: list[Callable] = []


@dataclass
class Item:
    title: str
    count: int | None  # None: a link (a report), not a number of cases
    url: str = ""
    level: str = "info"  # info | warning | danger
    group: str = ""


def register(provider: Callable) -> Callable:
    _providers.append(provider)
    return provider


def dashboard_callback(request, context):
    items: list[Item] = []
    for provider in _providers:
        items.extend(provider(request) or [])
    context.update({"todo_items": items, "dashboard_charts": todo_charts(items)})
    return context


def todo_charts(items: list[Item]) -> list:
    """The waiting work as one bar chart (counts already computed for the cards)."""
    from django.utils.translation import gettext as _

    from .charts import chart

    counted = [item for item in items if item.count is not None]
    if len(counted) < 2:
        return []
    return [chart("bar", [item.title for item in counted], [(_("件数"), [item.count for item in counted])],
                  title=_("待办件数"), money=False)]
