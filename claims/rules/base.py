"""What every tier shares: the ledger's fields, the cumulative primitives (threshold, cap,
segments), the facts and results of a claim, and the texts of an explanation."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

from yibao_site.money import JSON_LEAVES, ZERO, decimal_text, jsonable, to_fen


@lru_cache(maxsize=1024)
def _translated(language: str | None, message: str) -> str:
    if language == translation.get_language():
        return gettext(message)
    with translation.override(language):  # the cache is right whatever is active when it misses
        return gettext(message)


#: The language :func:`language` set for a batch (``None``: ask Django on every text).
_batch_language: ContextVar[str | None] = ContextVar("claims_rules_language", default=None)


def _(message: str) -> str:
    """``gettext``, memoised per language: a batch formats the same few dozen texts for every
    claim of its explanation.  Inside :func:`language` the language is read once for the
    batch (Django's ``get_language`` costs more than the look-up itself)."""
    lang = _batch_language.get()
    return _translated(lang if lang is not None else translation.get_language(), message)


@contextmanager
def language(code: str):
    """``translation.override(code)`` for a batch, the language also remembered for :func:`_`."""
    token = _batch_language.set(code)
    try:
        with translation.override(code):
            yield
    finally:
        _batch_language.reset(token)


INPATIENT, OUTPATIENT, CHRONIC = "inpatient", "outpatient", "chronic"
EMPLOYEE, RESIDENT = "employee", "resident"

MONTH_FIELDS = tuple(f"oop_m{m:02d}" for m in range(1, 13))

#: Every amount a year ledger keeps, in the order of the tiers.  ``*_base`` fields are the
#: cumulative amounts an annual threshold runs on; ``*_paid`` the cumulative payments a cap
#: runs on.
LEDGER_FIELDS = (
    "total_cost", "policy_scope_cost",
    "basic_inpatient_base", "basic_inpatient_paid",
    "basic_outpatient_base", "basic_outpatient_paid",
    "basic_chronic_base", "basic_chronic_paid",
    "critical_base", "critical_paid",
    "assistance_base", "assistance_paid",
    "second_round_base", "second_round_paid",
    "out_of_pocket",
) + MONTH_FIELDS


def empty_ledger() -> dict[str, Decimal]:
    return {name: ZERO for name in LEDGER_FIELDS}


def apply_delta(ledger: dict[str, Decimal], delta: dict[str, Any], sign: int = 1) -> dict[str, Decimal]:
    """Add (``sign=1``) or subtract (``sign=-1``) a claim's ledger delta in place."""
    for name, amount in delta.items():
        if sign == 1 and type(amount) is Decimal:  # the batch's own deltas: no text round trip
            ledger[name] = ledger[name] + amount
        else:
            ledger[name] = ledger[name] + sign * Decimal(str(amount))
    return ledger


# ── formatting for explanations a clerk reads aloud ────────────────────────────────────────
def yuan(amount: Decimal | None) -> str:
    """``Decimal("500.00")`` → ``500``; ``Decimal("1234.50")`` → ``1234.50``."""
    if amount is None:
        return _("不设限额")
    # A fen amount prints plainly with its two places ("500.00", "-0.00"): the integral ones
    # without them, as ``f"{amount:.0f}"`` would.  A Decimal whose text already ends in two
    # places (no exponent) is at the fen: rounding it is a no-op, so its text is used as is.
    text = str(amount)
    if type(amount) is not Decimal or len(text) < 4 or text[-3] != "." or "E" in text:
        text = str(to_fen(amount))
    return text[:-3] if text.endswith(".00") else text


@lru_cache(maxsize=256)
def percent(rate: Decimal) -> str:
    """``0.85`` → ``85%`` (memoised: a batch prints the same few rates; the text depends on
    the value only, so ``0.6`` and ``0.60`` share it)."""
    value = (Decimal(rate) * 100).normalize()
    return f"{value:f}%"


# ── the primitives: annual threshold and cap on a cumulative ledger ───────────────────────
def threshold_consumed(amount: Decimal, cumulative_before: Decimal, threshold: Decimal) -> Decimal:
    """Return how much of ``amount`` falls under an annual ``threshold`` (年度起付线).

    F(x) = min(x, threshold); consumed = F(before + amount) − F(before).
    """
    before = max(cumulative_before, ZERO)
    return min(threshold, before + amount) - min(threshold, before)


def within_cap(amount: Decimal, paid_before: Decimal, cap: Decimal | None) -> Decimal:
    """Return the part of ``amount`` an annual ``cap`` still allows (``None``: no cap).

    G(x) = min(x, cap); allowed = G(paid before + amount) − G(paid before), never negative.
    """
    if cap is None:
        return max(amount, ZERO)
    before = max(paid_before, ZERO)
    return max(min(cap, before + amount) - min(cap, before), ZERO)


def segmented(cumulative: Decimal, threshold: Decimal, segments: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    """F(x) of a threshold and rate segments: ``segments`` is ``[(length or None, rate), …]``."""
    above = cumulative - threshold
    total = Decimal(0)
    for length, rate in segments:
        if above <= 0:
            break
        part = above if length is None else min(above, length)
        total += part * rate
        above -= part
    return total


def marginal(before: Decimal, amount: Decimal, threshold: Decimal,
             segments: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    """F(before + amount) − F(before), each side rounded to the fen (so a year's payments
    telescope to F(year's total) with no rounding drift)."""
    return to_fen(segmented(before + amount, threshold, segments)) - to_fen(segmented(before, threshold, segments))


# ── inputs and outputs ────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class AssistanceStatus:
    """Who the person is for assistance on the service date (selectors.assistance_statuses)."""

    category: int | None = None          # 1–4, the highest (lowest number) that applies
    category_source: str = ""           # the identity kind or "determination"
    tilt: bool = False                   # an approved 倾斜救助 entitlement is valid
    transitional_kinds: tuple[str, ...] = ()  # identity kinds valid on the date (for the transitional rule)


@dataclass(frozen=True)
class ClaimFacts:
    """Everything about one claim the rules need (no ORM objects)."""

    scheme: str
    visit_type: str
    hospital_level: int
    service_month: int
    total_cost: Decimal
    policy_scope_cost: Decimal
    employee_status: str = ""
    in_province: bool = True
    referred: bool = False
    in_region: bool = True               # care inside the pooling region (the city, 市域)
    offsite_registered: bool = False     # a valid 异地就医备案 (relocation or referral) covers the date
    service_date: date | None = None     # for rules dated later than the claim (``*.in_force_from``)
    covered: bool = True                 # enrolment benefits in force on the service date
    inpatient_stay_open: bool = False    # an inpatient stay spans the (outpatient) service date
    basic_given: Decimal | None = None   # settled by the hospital platform
    critical_given: Decimal | None = None
    critical_cap: Decimal | None = None  # the enrolment's cap with incentives (None: the pack's)
    assistance: AssistanceStatus = field(default_factory=AssistanceStatus)
    # 门诊慢特病 (DOMAIN.md §11): the disease a chronic claim names; whether it is certified for
    # the person on the service date (None: not checked — a caller without certifications);
    # the catalogue's own rate/cap keys ("" → the scheme's chronic keys).
    chronic_disease: str = ""
    chronic_certified: bool | None = None
    chronic_rate_key: str = ""
    chronic_cap_key: str = ""
    diagnosis: str = ""                  # ICD-10; decides 两病 (basic.resident.outpatient.two_diseases.*)

    @property
    def counts_as_referred(self) -> bool:
        """Referred care: a referral on the claim or a valid off-site registration."""
        return self.referred or self.offsite_registered

    @property
    def out_of_region(self) -> bool:
        """Care outside the pooling region (out of the province is out of the city too)."""
        return not self.in_region or not self.in_province


def not_yet_in_force(policy, key: str, on: date | None) -> date | None:
    """Return the date the rule ``key`` (an ``*.in_force_from`` date) takes effect when ``on``
    is before it, else ``None`` (the rule applies, or the pack does not date it)."""
    if on is None or not policy.has(key):
        return None
    raw = policy.value(key, None)
    if not raw:
        return None
    start = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
    return start if on < start else None


@dataclass
class TierResult:
    paid: Decimal = ZERO
    lines: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settlement:
    basic: TierResult
    critical: TierResult
    assistance: TierResult
    second_round: TierResult
    out_of_pocket: Decimal
    delta: dict[str, Decimal]
    scope_self_pay: Decimal

    @property
    def explanation(self) -> str:
        lines = [*self.basic.lines, *self.critical.lines, *self.assistance.lines, *self.second_round.lines]
        lines.append(_("个人自负%(oop)s元(其中政策范围内自付%(scope)s元)。")
                     % {"oop": yuan(self.out_of_pocket), "scope": yuan(self.scope_self_pay)})
        return "\n".join(lines)

    def breakdown(self) -> dict[str, Any]:
        """The per-tier record stored on the claim (amounts as strings)."""
        def tier(t: TierResult):
            # ``{"paid": …, **jsonable(t.detail)}`` without the recursive call per value: a
            # tier's detail is flat (Decimals and plain leaves), anything else takes jsonable.
            out = {"paid": str(t.paid)}
            for key, value in t.detail.items():
                kind = type(value)
                out[key] = value if kind in JSON_LEAVES else decimal_text(value) if kind is Decimal else jsonable(value)
            return out
        return {
            "tiers": {"basic": tier(self.basic), "critical": tier(self.critical),
                      "assistance": tier(self.assistance), "second_round": tier(self.second_round)},
            "scope_self_pay": str(self.scope_self_pay),
            "ledger_delta": {k: str(v) for k, v in self.delta.items() if v},
        }


def _dec(policy, key: str) -> Decimal | None:
    """A decimal parameter, ``None`` when the pack sets it to null (不设) or lacks it."""
    if not policy.has(key):
        return None
    return policy.decimal(key, None)
