"""What members read from the dated policy parameters (yibao_site.policy), in memory.

Each reader takes a :class:`~yibao_site.policy.PolicySnapshot` and returns the numbers a rule
in :mod:`members.rules` needs; no queries (a batch loads one snapshot per township and year
through a ``PolicyCache``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from yibao_site.money import to_fen
from yibao_site.policy import PolicyCache, PolicySnapshot, policy_snapshot, snapshot_version

from . import rules
from .models import IdentityKind, Person, Scheme

#: Identity kinds from the most to the least severe (ties of the subsidy go to the first).
KIND_ORDER = list(IdentityKind.values)


def enrolment_snapshot(person: Person, year: int, cache: PolicyCache | None = None) -> PolicySnapshot:
    """Policy in force for a person's enrolment in ``year`` (read on 1 Jan of the year)."""
    on = date(year, 1, 1)
    region = person.township
    return cache.get(region, on) if cache is not None else policy_snapshot(region, on)


def resident_premium(snap: PolicySnapshot) -> Decimal:
    return to_fen(snap.decimal("members.premium.resident"))


def employee_amount_due(snap: PolicySnapshot, status: str, contribution_base: Decimal | None) -> Decimal | None:
    """Yearly individual employee contribution = monthly base × rate × 12; ``None`` if it needs a base."""
    return rules.employee_contribution(snap.decimal(f"members.contribution.employee.{status}.rate"), contribution_base)


def cap_params(snap: PolicySnapshot) -> rules.CapParams:
    return rules.CapParams(
        base=snap.decimal("critical.resident.cap"),
        continuity_min_years=snap.integer("critical.cap.continuity_min_years"),
        continuity_bonus=snap.decimal("critical.cap.continuity_bonus"),
        zero_claim_bonus=snap.decimal("critical.cap.zero_claim_bonus"),
        bonus_ceiling_rate=snap.decimal("critical.cap.bonus_ceiling_rate"),
        break_penalty_per_year=snap.decimal("critical.cap.break_penalty_per_year"),
        incentives_from=(int(snap.value("critical.cap.incentives_from"))
                         if snap.value("critical.cap.incentives_from", None) is not None else None),
    )


@dataclass(frozen=True)
class EnrolmentPolicy:
    """What an enrolment reads from the policy, for one township, year, scheme and status."""

    collection_start: object
    collection_end: object
    waiting_months: int
    newborn_rule: bool
    premium: Decimal | None  # residents
    cap: rules.CapParams | None  # residents
    employee_rate: Decimal | None  # employees
    version: str  # of exactly the parameters read


def enrolment_policy(snap: PolicySnapshot, scheme: str, employee_status: str = "") -> EnrolmentPolicy:
    """Read the parameters an enrolment of ``scheme``/``employee_status`` uses (no queries)."""
    start_md = snap.value("members.collection_period.start")
    end_md = snap.value("members.collection_period.end")
    waiting = snap.integer("members.waiting_period.months")
    newborn = bool(snap.value("members.newborn.next_year_rule"))
    premium = cap = rate = None
    if scheme == Scheme.RESIDENT:
        premium, cap = resident_premium(snap), cap_params(snap)
    else:
        rate = snap.decimal(f"members.contribution.employee.{employee_status}.rate")
    return EnrolmentPolicy(start_md, end_md, waiting, newborn, premium, cap, rate, snapshot_version(snap))


def subsidy_params(snap: PolicySnapshot) -> tuple[Decimal, dict[str, Decimal], dict[str, tuple[Decimal, Decimal]]]:
    """(premium, rate per identity kind, phase-out (rate, base) per kind) in force in ``snap``."""
    premium = resident_premium(snap)
    rates, phaseout = {}, {}
    for kind in KIND_ORDER:
        if snap.has(f"subsidy.phaseout.{kind}.base"):
            rate = snap.decimal(f"subsidy.phaseout.{kind}.rate", None)
            if rate is not None:
                phaseout[kind] = (rate, snap.decimal(f"subsidy.phaseout.{kind}.base"))
            continue
        rate = snap.decimal(f"subsidy.rate.{kind}", None)
        if rate is not None:
            rates[kind] = rate
    return premium, rates, phaseout
