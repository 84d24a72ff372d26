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
    count: int
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
    context.update({"todo_items": items})
    return context
