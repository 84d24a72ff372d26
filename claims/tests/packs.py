"""Policy snapshots built straight from the shipped pack files, without a database, so the
pure rules can be property-tested fast.  The selection mirrors ``policy_snapshot``: for each
key the entry with the latest ``effective_from`` on or before the date."""
from __future__ import annotations

from datetime import date
from functools import lru_cache

from yibao_site.packs import read_pack
from yibao_site.policy import ParameterInForce, PolicySnapshot


@lru_cache(maxsize=None)
def _entries(name: str):
    return tuple(read_pack(name)["parameters"])


def pack_snapshot(name: str, on: date = date(2024, 6, 1), **overrides) -> PolicySnapshot:
    """The pack's parameters in force on ``on``; ``overrides`` replace values (``a__b`` for
    ``a.b``; the value ``None`` means 'set to null')."""
    best: dict[str, ParameterInForce] = {}
    for entry in _entries(name):
        if entry["effective_from"] <= on:
            current = best.get(entry["key"])
            if current is None or entry["effective_from"] > current.effective_from:
                best[entry["key"]] = ParameterInForce(entry["key"], entry["value"], "000000",
                                                      entry["effective_from"], name, 0)
    for key, value in overrides.items():
        key = key.replace("__", ".")
        best[key] = ParameterInForce(key, value, "000000", on, "test", 0)
    return PolicySnapshot("000000", on, best)
