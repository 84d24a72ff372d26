"""Dated policy parameters (政策参数): look-ups by region and date, with parent fallback.

A rule never holds a number: it asks a :class:`PolicySnapshot` for the value in force for
a region on a date.  The nearest region in the chain (village → … → city) that has a value in
force wins; among its values the latest ``effective_from`` on or before the date wins.
A snapshot remembers which parameters it handed out, so a settlement can store exactly the
policy version it used and be explained or recomputed later.
"""
from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from .models import PolicyParameter, Region

_MISSING = object()


class PolicyMissing(ValidationError):
    """A rule asked for a parameter that no pack or supervisor has defined."""


@dataclass(frozen=True)
class ParameterInForce:
    key: str
    value: Any
    region_code: str
    effective_from: date
    pack: str
    parameter_id: int


@dataclass
class PolicySnapshot:
    """The parameters in force for one region on one date."""

    region_code: str
    on: date
    params: dict[str, ParameterInForce]
    used: dict[str, ParameterInForce] = field(default_factory=dict)
    #: key → (the parameter, its Decimal): :meth:`decimal` parses each value once, the memo
    #: shared by the snapshots made of the same parameters (:meth:`fork`, the change-date
    #: cache): a batch asks for the same rates for every claim.  An entry counts only while
    #: ``params[key]`` is the very parameter it was parsed from.
    _decimals: dict[str, tuple[ParameterInForce, Decimal]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def has(self, key: str) -> bool:
        return key in self.params

    def value(self, key: str, default: Any = _MISSING) -> Any:
        found = self.params.get(key)
        if found is None:
            if default is _MISSING:
                raise PolicyMissing(
                    _("区划 %(region)s 在 %(on)s 没有生效的政策参数 %(key)s。")
                    % {"region": self.region_code, "on": self.on.isoformat(), "key": key}
                )
            return default
        self.used[key] = found
        return found.value

    def decimal(self, key: str, default: Any = _MISSING) -> Decimal | None:
        known = self._decimals.get(key)
        if known is not None and self.params.get(key) is known[0]:
            self.used[key] = known[0]  # what :meth:`value` records
            return known[1]
        raw = self.value(key, default)
        if raw is None:
            return None
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or isinstance(raw, (bool, float)):
            raise PolicyMissing(
                _("政策参数 %(key)s 的取值不是数字:%(value)s") % {"key": key, "value": str(raw)[:40]}
            )
        found = self.params.get(key)
        if found is not None and found.value is raw:
            self._decimals[key] = (found, number)
        return number

    def integer(self, key: str, default: Any = _MISSING) -> int:
        raw = self.value(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise PolicyMissing(
                _("政策参数 %(key)s 的取值不是整数:%(value)s") % {"key": key, "value": str(raw)[:40]}
            )
        return raw

    def fork(self) -> "PolicySnapshot":
        """Return a copy with an empty ``used`` record (for one settlement of a batch)."""
        snap = PolicySnapshot(self.region_code, self.on, self.params)
        snap._decimals = self._decimals  # same parameters: the parsed values are shared
        return snap

    def used_record(self) -> dict[str, dict[str, Any]]:
        """Return the parameters used, as stored on a settlement."""
        return {
            key: {"value": p.value, "region": p.region_code,
                  "effective_from": p.effective_from.isoformat(), "pack": p.pack, "id": p.parameter_id}
            for key, p in sorted(self.used.items())
        }

    @property
    def version(self) -> str:
        """Return a short, stable identifier of the parameters used so far."""
        record = self.used_record()
        for item in record.values():
            item.pop("id", None)
        digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:10]
        packs = sorted({p.pack for p in self.used.values() if p.pack}) or ["custom"]
        return f"{'+'.join(packs)}#{digest}"


def _chain_codes(region: Region | str) -> list[str]:
    if isinstance(region, Region):
        return region.ancestors_codes()
    found = Region.objects.only("path").get(code=region)
    return found.ancestors_codes()


def policy_snapshot(region: Region | str, on: date) -> PolicySnapshot:
    """Load every parameter in force for ``region`` on ``on`` in one query."""
    chain = _chain_codes(region)
    depth = {code: i for i, code in enumerate(chain)}
    rows = (
        PolicyParameter.objects.filter(region__code__in=chain, effective_from__lte=on)
        .values_list("id", "key", "value", "region__code", "effective_from", "pack")
    )
    best: dict[str, tuple[tuple[int, date], ParameterInForce]] = {}
    for pid, key, value, code, eff, pack in rows:
        rank = (depth[code], eff)
        current = best.get(key)
        if current is None or rank > current[0]:
            best[key] = (rank, ParameterInForce(key, value, code, eff, pack, pid))
    return PolicySnapshot(chain[-1], on, {k: v for k, (_, v) in best.items()})


class PolicyCache:
    """Snapshots memoised per (region, date): a batch job loads each combination once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, date], PolicySnapshot] = {}

    def get(self, region: Region | str, on: date) -> PolicySnapshot:
        return self._snapshot(region, on).fork()

    def _snapshot(self, region: Region | str, on: date) -> PolicySnapshot:
        """The memoised snapshot itself (not a fork: callers must not record uses on it)."""
        code = region.code if isinstance(region, Region) else region
        snap = self._cache.get((code, on))
        if snap is None:
            snap = self._cache[(code, on)] = policy_snapshot(region, on)
        return snap


_VERSIONS: dict[tuple, str] = {}


def snapshot_version(snap: PolicySnapshot) -> str:
    """``snap.version``, memoised on the parameter rows used (a batch of thousands of rows
    on one policy hashes it once)."""
    key = tuple(sorted((k, p.parameter_id, p.region_code, p.effective_from, repr(p.value))
                       for k, p in snap.used.items()))
    found = _VERSIONS.get(key)
    if found is None:
        if len(_VERSIONS) > 1000:
            _VERSIONS.clear()
        found = _VERSIONS[key] = snap.version
    return found


class ChangeDatePolicyCache(PolicyCache):
    """A :class:`PolicyCache` that loads one snapshot per region and *change date*.

    The parameters in force on a date are those in force on the latest ``effective_from`` on
    or before it among the region chain's parameters, so a batch spread over a year needs one
    query per region for the change dates plus one snapshot per change date — not one per
    (region, service date).  The snapshot handed out still says the service date.
    """

    def __init__(self) -> None:
        super().__init__()
        self._dates: dict[str, list[date]] = {}
        self._memo: dict[tuple, tuple[dict, str]] = {}

    def get(self, region, on: date) -> PolicySnapshot:
        code = region.code if hasattr(region, "code") else region
        dates = self._dates.get(code)
        if dates is None:
            chain = region.ancestors_codes() if hasattr(region, "ancestors_codes") else [code]
            dates = self._dates[code] = sorted(set(
                PolicyParameter.objects.filter(region__code__in=chain).values_list("effective_from", flat=True)))
        i = bisect_right(dates, on)
        base = self._snapshot(region, dates[i - 1] if i else on)  # (a new snapshot below: no fork needed)
        snap = PolicySnapshot(base.region_code, on, base.params)
        snap._decimals = base._decimals  # same parameters: the parsed values are shared
        return snap

    def record(self, snap: PolicySnapshot) -> tuple[dict, str]:
        """``(snap.used_record(), snap.version)``, computed once per set of parameters used."""
        # The keys in the order the rules asked for them, with their rows: no sort per claim
        # (a claim taking another path on the same rows is one more entry, computed alike).
        used = snap.used
        key = (tuple(used), tuple([p.parameter_id for p in used.values()]))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = (snap.used_record(), snap.version)
        return found


_shared_cache: dict = {"token": None, "cache": None}


def shared_policy_cache() -> ChangeDatePolicyCache:
    """A process-wide :class:`ChangeDatePolicyCache`, valid while no policy parameter or region
    has changed (checked with one query on their history tables), so a single settlement does
    not reload ~200 parameters each time."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {shared_policy_token_sql()}")
        return shared_policy_cache_at(cursor.fetchone())


def policy_value(key: str, region: Region | str, on: date, default: Any = _MISSING) -> Any:
    """Return the value of ``key`` in force for ``region`` on ``on``."""
    return policy_snapshot(region, on).value(key, default)


def policy_decimal(key: str, region: Region | str, on: date, default: Any = _MISSING) -> Decimal:
    """Return the value of ``key`` in force for ``region`` on ``on`` as a ``Decimal``."""
    return policy_snapshot(region, on).decimal(key, default)


def shared_policy_token_sql() -> str:
    """The select-list of :func:`shared_policy_cache`'s version check (four scalar subqueries),
    for a caller that folds the check into a statement it sends anyway.  Built once per
    database vendor: every ``Model.history`` access makes django-simple-history build a new
    manager class, two of them were a tenth of one ``POST claims/``'s own CPU."""
    found = _TOKEN_SQL.get(connection.vendor)
    if found is None:
        qn = connection.ops.quote_name
        policy_history = qn(PolicyParameter.history.model._meta.db_table)
        region_history = qn(Region.history.model._meta.db_table)
        found = _TOKEN_SQL[connection.vendor] = (
            f"(SELECT MAX(history_id) FROM {policy_history}), (SELECT MAX(history_date) FROM {policy_history}), "
            f"(SELECT MAX(history_id) FROM {region_history}), (SELECT MAX(history_date) FROM {region_history})")
    return found


_TOKEN_SQL: dict[str, str] = {}


def shared_policy_cache_at(values) -> ChangeDatePolicyCache:
    """:func:`shared_policy_cache` given the four values of :func:`shared_policy_token_sql`
    already read (no statement of its own)."""
    token = (connection.alias, connection.settings_dict["NAME"], *values)
    if _shared_cache["token"] != token:
        _shared_cache.update(token=token, cache=ChangeDatePolicyCache())
    return _shared_cache["cache"]
