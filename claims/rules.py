"""The settlement chain (一站式结算, DOMAIN.md §5) as pure functions of parameters and amounts.

No ORM here: a rule reads numbers from a *policy* object (anything with ``value(key,
default)`` / ``decimal(key, default)`` / ``has(key)`` — a :class:`yibao_site.policy.PolicySnapshot`
in production, the same class built from a pack file in property tests) and amounts from a
:class:`ClaimFacts` and the person's year ledger (a plain ``dict`` of the field names in
:data:`LEDGER_FIELDS`).

Every annual threshold and cap is computed on the cumulative ledger as
F(cumulative after) − F(cumulative before), each tier rounded half-up to the fen, so a second
claim in the year never pays a deductible twice and no sequence of claims passes a cap.  The
result of :func:`settle` carries the ledger *delta* of the claim; reversing a claim subtracts
exactly that delta (:func:`apply_delta` with ``sign=-1``).

Which tiers apply (decisions documented here because DOMAIN.md leaves them open):

* Basic insurance pays only while the enrolment's benefits are in force (待遇享受期);
  a claim in a waiting period or a break pays nothing from the insurance funds and its costs
  do not count towards the insurance deductibles.  Medical assistance and second-round
  assistance are not insurance: whether they still pay in that case is the policy key
  ``assistance.outside_benefit_period``.
* Critical-illness insurance applies to the scheme and visit types a pack defines
  (``critical.<scheme>.threshold`` present, ``critical.<scheme>.visit_types``).
* Medical assistance and second-round assistance apply to ``assistance.visit_types``; care
  outside the pooling region (``in_region`` false, or out of the province) without a referral
  or a valid off-site registration (异地就医备案: relocation or registered referral) gets
  neither when ``assistance.out_of_region_requires_referral`` is set (DOMAIN.md §3, §5).
* A rule dated later than the service date does not apply, and the explanation says so:
  ``assistance.in_force_from`` (tiers 3–4) and ``basic.<scheme>.<visit>.in_force_from``
  (Shiyan's employee outpatient pooling from 2022-12-31).
* The annual assistance deductible (``assistance.cat<n>.inpatient.annual_deductible``) runs on
  the year's cumulative self-pay after insurance of the visit types in
  ``assistance.annual_deductible.visit_types`` (Shiyan: inpatient; Yicheng: inpatient and
  chronic together).
* Second round: Shiyan's transitional rule (automatic, for the identity kinds of
  ``second_round.transitional.kinds``) wins over the tilt assistance (倾斜救助, needs an approved
  application and, by ``second_round.tilt.requires_in_province_referral``, in-province referred
  care), which wins over Yicheng's automatic 再救助 by category (``second_round.auto.cat<n>.*``).
  All three run on one cumulative base (policy-scope self-pay left after tiers 1–3 of the
  claims that reached tier 4) and one paid-so-far pool.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from yibao_site.money import ZERO, jsonable, to_fen


@lru_cache(maxsize=1024)
def _translated(language: str | None, message: str) -> str:
    return gettext(message)


def _(message: str) -> str:
    """``gettext``, memoised per language: a batch formats the same few dozen texts for every
    claim of its explanation."""
    return _translated(translation.get_language(), message)


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
        ledger[name] = ledger[name] + sign * Decimal(str(amount))
    return ledger


# ── formatting for explanations a clerk reads aloud ────────────────────────────────────────
def yuan(amount: Decimal | None) -> str:
    """``Decimal("500.00")`` → ``500``; ``Decimal("1234.50")`` → ``1234.50``."""
    if amount is None:
        return _("不设限额")
    amount = to_fen(amount)
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


def percent(rate: Decimal) -> str:
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
            return {"paid": str(t.paid), **jsonable(t.detail)}
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


# ── tier 1: basic insurance ───────────────────────────────────────────────────────────────
VISIT_LABEL = {INPATIENT: gettext_noop("住院"), OUTPATIENT: gettext_noop("普通门诊"), CHRONIC: gettext_noop("门诊慢特病")}


def basic_rate_key(scheme: str, visit_type: str, level: int, employee_status: str) -> str:
    if visit_type == INPATIENT:
        return f"basic.{scheme}.inpatient.rate.l{level}"
    if visit_type == CHRONIC:
        return f"basic.{scheme}.chronic.rate"
    if scheme == EMPLOYEE:
        return f"basic.employee.outpatient.rate.{employee_status or 'in_service'}.l{level}"
    return f"basic.{scheme}.outpatient.rate.l{level}"


def chronic_uncertified(facts: ClaimFacts) -> bool:
    """A chronic claim whose disease is not certified for the person on the service date."""
    return facts.visit_type == CHRONIC and facts.chronic_certified is False


def _uncertified_text(facts: ClaimFacts) -> str:
    if not facts.chronic_disease:
        return _("未填写门诊慢特病病种")
    return _("门诊慢特病病种%(code)s在就诊日未经认定(无有效期内的认定)") % {"code": facts.chronic_disease}


def icd10_in_ranges(code: str, ranges) -> bool:
    """Whether ICD-10 ``code`` is in ``ranges`` (``"I10-I15"`` inclusive, ``"B18"`` a category
    with its sub-codes); each bound compared on its own length (``E11.901`` is in ``E10-E14``)."""
    value = (code or "").strip().upper().replace(".", "")
    if not value:
        return False
    for item in ranges or ():
        low, _sep, high = str(item).partition("-")
        low, high = low.strip().upper().replace(".", ""), (high or low).strip().upper().replace(".", "")
        if low and high and low <= value[:len(low)] and value[:len(high)] <= high:
            return True
    return False


def two_diseases_rate(policy, facts: ClaimFacts) -> Decimal | None:
    """两病: the resident outpatient rate for a hypertension or diabetes diagnosis, or None."""
    if facts.scheme != RESIDENT or facts.visit_type != OUTPATIENT or not facts.diagnosis:
        return None
    rate = _dec(policy, "basic.resident.outpatient.two_diseases.rate")
    if rate is None:
        return None
    ranges = policy.value("basic.resident.outpatient.two_diseases.icd10", None) or []
    return rate if icd10_in_ranges(facts.diagnosis, ranges) else None


def basic_tier(policy, facts: ClaimFacts, ledger: dict[str, Decimal]) -> tuple[TierResult, dict[str, Decimal]]:
    """Tier 1 基本医保: deductible (per admission or annual), rate, annual cap by visit type."""
    visit, scheme, scope = facts.visit_type, facts.scheme, facts.policy_scope_cost
    label = _(VISIT_LABEL[visit])
    result, delta = TierResult(), {}
    base_field, paid_field = f"basic_{visit}_base", f"basic_{visit}_paid"
    if facts.basic_given is not None:
        result.paid = to_fen(facts.basic_given)
        result.detail = {"source": "platform"}
        result.lines.append(_("基本医保:医院平台已结算,支付%(paid)s元。") % {"paid": yuan(result.paid)})
        if chronic_uncertified(facts):
            result.detail["review"] = "chronic_not_certified"
            result.lines.append(_("门诊慢特病:%(why)s,平台结算按已结算入账,标记待复核。") % {"why": _uncertified_text(facts)})
        delta[base_field], delta[paid_field] = scope, result.paid
        return result, delta
    if chronic_uncertified(facts):
        result.detail = {"reason": "chronic_not_certified", "disease": facts.chronic_disease}
        result.lines.append(_("基本医保:%(why)s,不享受门诊慢特病待遇,基金不予支付。") % {"why": _uncertified_text(facts)})
        return result, delta
    if not facts.covered:
        result.detail = {"reason": "not_covered"}
        result.lines.append(_("基本医保:就诊日期不在待遇享受期内(等待期或断保期间),基金不予支付。"))
        return result, delta
    starts = not_yet_in_force(policy, f"basic.{scheme}.{visit}.in_force_from", facts.service_date)
    if starts is not None:
        result.detail = {"reason": "rule_not_in_force", "in_force_from": starts.isoformat()}
        result.lines.append(_("基本医保:%(label)s统筹政策自%(from)s起施行,就诊日期在此之前,统筹基金不予支付。")
                            % {"label": label, "from": starts.isoformat()})
        return result, delta
    if visit == OUTPATIENT:
        levels = [int(x) for x in (policy.value(f"basic.{scheme}.outpatient.levels", None) or [])]
        if facts.hospital_level not in levels:
            result.detail = {"reason": "level_not_pooled"}
            result.lines.append(_("基本医保:%(level)s级医疗机构普通门诊不纳入门诊统筹,不予支付。")
                                % {"level": facts.hospital_level})
            return result, delta
        if scheme == EMPLOYEE and facts.inpatient_stay_open:
            result.detail = {"reason": "inpatient_stay_open"}
            result.lines.append(_("基本医保:住院期间发生的普通门诊费用不享受门诊共济。"))
            return result, delta
    rate_key = basic_rate_key(scheme, visit, facts.hospital_level, facts.employee_status)
    cap_key = f"basic.{scheme}.{visit}.annual_cap"
    if visit == CHRONIC:  # a catalogue disease may name its own keys (药品单独支付…)
        rate_key = facts.chronic_rate_key or rate_key
        cap_key = facts.chronic_cap_key or cap_key
    rate = policy.decimal(rate_key)
    special = two_diseases_rate(policy, facts)
    if special is not None:
        rate = special
        label = _("两病(高血压、糖尿病)门诊用药")
    cap = _dec(policy, cap_key)
    if visit == INPATIENT:
        deductible = policy.decimal(f"basic.{scheme}.inpatient.deductible.l{facts.hospital_level}")
        consumed = min(scope, deductible)
        deductible_text = _("住院起付线%(d)s元") % {"d": yuan(deductible)}
    else:
        deductible = _dec(policy, f"basic.{scheme}.{visit}.annual_deductible") or ZERO
        consumed = threshold_consumed(scope, ledger[base_field], deductible)
        deductible_text = (_("年度起付线%(d)s元(本次计入%(c)s元)") % {"d": yuan(deductible), "c": yuan(consumed)}
                           if deductible else _("不设起付线"))
    raw = to_fen((scope - consumed) * rate)
    paid = min(within_cap(raw, ledger[paid_field], cap), scope)
    result.paid = paid
    result.detail = {"deductible": deductible, "deductible_consumed": consumed, "rate": rate, "cap": cap,
                     "by_rate": raw, "capped": paid < raw}
    if special is not None:
        result.detail["two_diseases"] = True
    text = _("基本医保(%(label)s,%(level)s级医院):政策范围内费用%(scope)s元,%(ded)s,报销比例%(rate)s,"
             ) % {"label": label, "level": facts.hospital_level, "scope": yuan(scope), "ded": deductible_text,
                  "rate": percent(rate)}
    if paid < raw:
        text += _("按比例应付%(raw)s元,受年度限额%(cap)s元控制,") % {"raw": yuan(raw), "cap": yuan(cap)}
    text += _("支付%(paid)s元。") % {"paid": yuan(paid)}
    result.lines.append(text)
    delta[base_field], delta[paid_field] = scope, paid
    return result, delta


# ── tier 2: critical-illness insurance ────────────────────────────────────────────────────
def critical_applies(policy, facts: ClaimFacts) -> bool:
    return (facts.covered and not chronic_uncertified(facts) and policy.has(f"critical.{facts.scheme}.threshold")
            and facts.visit_type in (policy.value(f"critical.{facts.scheme}.visit_types", None) or []))


def critical_tier(policy, facts: ClaimFacts, ledger: dict[str, Decimal], left: Decimal
                  ) -> tuple[TierResult, dict[str, Decimal]]:
    """Tier 2 大病保险: annual threshold on cumulative self-pay after basic, two rate segments,
    annual cap (the enrolment's, with incentives, or the pack's base cap)."""
    result, delta = TierResult(), {}
    if facts.critical_given is not None:
        given = to_fen(facts.critical_given)
        if given > left:
            raise ValidationError({"critical_paid": [
                _("大病保险支付%(given)s元超过基本医保后的政策范围内自付%(left)s元。")
                % {"given": yuan(given), "left": yuan(left)}]})
        result.paid = given
        result.detail = {"source": "platform"}
        result.lines.append(_("大病保险:医院平台已结算,支付%(paid)s元。") % {"paid": yuan(given)})
        delta["critical_base"], delta["critical_paid"] = left, given
        return result, delta
    if not critical_applies(policy, facts):
        return result, delta
    s = facts.scheme
    threshold = policy.decimal(f"critical.{s}.threshold")
    low, segment, high = (policy.decimal(f"critical.{s}.rate.low"), policy.decimal(f"critical.{s}.segment"),
                          policy.decimal(f"critical.{s}.rate.high"))
    cap = facts.critical_cap if facts.critical_cap is not None else _dec(policy, f"critical.{s}.cap")
    before = ledger["critical_base"]
    raw = marginal(before, left, threshold, [(segment, low), (None, high)])
    paid = min(within_cap(raw, ledger["critical_paid"], cap), left)
    result.paid = paid
    result.detail = {"threshold": threshold, "rate_low": low, "segment": segment, "rate_high": high, "cap": cap,
                     "cumulative_before": before, "by_rate": raw, "capped": paid < raw}
    text = _("大病保险:基本医保后政策范围内自付%(left)s元,年度累计%(cum)s元,起付线%(t)s元,"
             "超过部分%(seg)s元以内支付%(low)s、以上支付%(high)s,") % {
        "left": yuan(left), "cum": yuan(before + left), "t": yuan(threshold), "seg": yuan(segment),
        "low": percent(low), "high": percent(high)}
    if paid < raw:
        text += _("按比例应付%(raw)s元,受年度限额%(cap)s元控制,") % {"raw": yuan(raw), "cap": yuan(cap)}
    text += _("支付%(paid)s元。") % {"paid": yuan(paid)}
    result.lines.append(text)
    delta["critical_base"], delta["critical_paid"] = left, paid
    return result, delta


# ── tier 3: medical assistance ────────────────────────────────────────────────────────────
def assistance_reaches(policy, facts: ClaimFacts) -> tuple[bool, str]:
    """Return whether tiers 3–4 may pay on this claim at all, and why not."""
    if facts.visit_type not in (policy.value("assistance.visit_types", None) or []):
        return False, "visit_type"
    if not_yet_in_force(policy, "assistance.in_force_from", facts.service_date) is not None:
        return False, "rule_not_in_force"
    if not facts.covered and not policy.value("assistance.outside_benefit_period", False):
        return False, "not_covered"
    if chronic_uncertified(facts):
        return False, "chronic_not_certified"
    if policy.has("assistance.out_of_region_requires_referral"):
        if facts.out_of_region and not facts.counts_as_referred and policy.value(
                "assistance.out_of_region_requires_referral", False):
            return False, "out_of_region_unreferred"
    elif (not facts.in_province and not facts.counts_as_referred
            and policy.value("assistance.out_of_province_requires_referral", False)):
        return False, "out_of_province_unreferred"
    return True, ""


def assistance_amount(policy, *, category: int, visit_type: str, base: Decimal,
                      deductible_base_before: Decimal = ZERO, paid_before: Decimal = ZERO
                      ) -> tuple[TierResult, dict[str, Decimal]]:
    """Medical assistance (医疗救助) for ``base`` (policy-scope self-pay left after insurance) of
    an assistance object of ``category``, given the year's cumulative deductible base and the
    assistance paid so far (the shared annual pool of inpatient and chronic care).

    Reused by the one-time retroactive assistance (assistance app).
    """
    result, delta = TierResult(), {}
    rate_key = f"assistance.cat{category}.{visit_type}.rate"
    if not policy.has(rate_key) or base <= 0:
        return result, delta
    rate = policy.decimal(rate_key)
    cap = _dec(policy, f"assistance.cat{category}.annual_cap")
    deductible = ZERO
    consumed = ZERO
    shared = policy.value("assistance.annual_deductible.visit_types", None) if policy.has(
        "assistance.annual_deductible.visit_types") else None
    if visit_type in (shared if shared is not None else [INPATIENT]):
        deductible = _dec(policy, f"assistance.cat{category}.inpatient.annual_deductible") or ZERO
        consumed = threshold_consumed(base, deductible_base_before, deductible)
        delta["assistance_base"] = base
    raw = to_fen((base - consumed) * rate)
    paid = min(within_cap(raw, paid_before, cap), base)
    result.paid = paid
    result.detail = {"category": category, "deductible": deductible, "deductible_consumed": consumed,
                     "rate": rate, "cap": cap, "paid_before": paid_before, "by_rate": raw, "capped": paid < raw}
    ded = (_("年度救助起付线%(d)s元(本次计入%(c)s元)") % {"d": yuan(deductible), "c": yuan(consumed)}
           if deductible else _("不设起付线"))
    text = _("医疗救助(%(cat)s类救助对象):政策范围内个人自付%(base)s元,%(ded)s,救助比例%(rate)s,") % {
        "cat": category, "base": yuan(base), "ded": ded, "rate": percent(rate)}
    if paid < raw:
        text += _("按比例应救助%(raw)s元,受年度救助限额%(cap)s元(已用%(used)s元)控制,") % {
            "raw": yuan(raw), "cap": yuan(cap), "used": yuan(paid_before)}
    text += _("救助%(paid)s元。") % {"paid": yuan(paid)}
    result.lines.append(text)
    delta["assistance_paid"] = paid
    return result, delta


def assistance_tier(policy, facts: ClaimFacts, ledger: dict[str, Decimal], left: Decimal
                    ) -> tuple[TierResult, dict[str, Decimal]]:
    """Tier 3 医疗救助 for the claim's assistance category."""
    status = facts.assistance
    if status.category is None:
        return TierResult(), {}
    ok, reason = assistance_reaches(policy, facts)
    if not ok:
        result = TierResult(detail={"reason": reason, "category": status.category})
        if reason == "out_of_province_unreferred":
            result.lines.append(_("医疗救助:省外就医未按规定转诊,不纳入医疗救助。"))
        elif reason == "chronic_not_certified":
            result.lines.append(_("医疗救助:%(why)s,不享受门诊慢特病医疗救助。") % {"why": _uncertified_text(facts)})
        elif reason == "out_of_region_unreferred":
            result.lines.append(_("医疗救助:统筹区外就医,未按规定转诊且无有效的异地就医备案,不纳入医疗救助。"))
        elif reason == "rule_not_in_force":
            starts = not_yet_in_force(policy, "assistance.in_force_from", facts.service_date)
            result.detail["in_force_from"] = starts.isoformat()
            result.lines.append(_("医疗救助:本地医疗救助政策自%(from)s起施行,就诊日期在此之前,不计算医疗救助。")
                                % {"from": starts.isoformat()})
        return result, {}
    return assistance_amount(policy, category=status.category, visit_type=facts.visit_type, base=left,
                             deductible_base_before=ledger["assistance_base"], paid_before=ledger["assistance_paid"])


# ── tier 4: second-round assistance ───────────────────────────────────────────────────────
def second_round_scheme(policy, facts: ClaimFacts) -> tuple[str, str] | None:
    """Return (scheme name, key prefix) of the second-round assistance that applies, or None."""
    status = facts.assistance
    kinds = policy.value("second_round.transitional.kinds", None) if policy.has("second_round.transitional.kinds") else None
    if kinds and set(kinds) & set(status.transitional_kinds):
        return "transitional", "second_round.transitional"
    if status.tilt and policy.has("second_round.tilt.threshold"):
        needs = policy.value("second_round.tilt.requires_in_province_referral", False)
        if not needs or (facts.in_province and facts.counts_as_referred):
            return "tilt", "second_round.tilt"
    if status.category is not None and policy.has(f"second_round.auto.cat{status.category}.threshold"):
        return "auto", f"second_round.auto.cat{status.category}"
    return None


SECOND_ROUND_LABEL = {"transitional": gettext_noop("过渡期倾斜救助"), "tilt": gettext_noop("倾斜救助"),
                      "auto": gettext_noop("再救助")}


def second_round_tier(policy, facts: ClaimFacts, ledger: dict[str, Decimal], left: Decimal
                      ) -> tuple[TierResult, dict[str, Decimal]]:
    """Tier 4 再救助/倾斜救助: rate above an annual threshold of the cumulative self-pay left
    after tiers 1–3, within an annual cap (none for the transitional rule)."""
    result, delta = TierResult(), {}
    if not assistance_reaches(policy, facts)[0]:
        return result, delta
    chosen = second_round_scheme(policy, facts)
    if chosen is None:
        return result, delta
    name, prefix = chosen
    threshold, rate = policy.decimal(f"{prefix}.threshold"), policy.decimal(f"{prefix}.rate")
    cap = _dec(policy, f"{prefix}.cap")
    before = ledger["second_round_base"]
    raw = marginal(before, left, threshold, [(None, rate)])
    paid = min(within_cap(raw, ledger["second_round_paid"], cap), left)
    result.paid = paid
    result.detail = {"scheme": name, "threshold": threshold, "rate": rate, "cap": cap,
                     "cumulative_before": before, "by_rate": raw, "capped": paid < raw}
    text = _("%(label)s:三重保障后政策范围内自付%(left)s元,年度累计%(cum)s元,超过%(t)s元部分按%(rate)s,"
             ) % {"label": _(SECOND_ROUND_LABEL[name]), "left": yuan(left), "cum": yuan(before + left),
                  "t": yuan(threshold), "rate": percent(rate)}
    if paid < raw:
        text += _("按比例应付%(raw)s元,受年度限额%(cap)s元控制,") % {"raw": yuan(raw), "cap": yuan(cap)}
    text += _("支付%(paid)s元。") % {"paid": yuan(paid)}
    result.lines.append(text)
    delta["second_round_base"], delta["second_round_paid"] = left, paid
    return result, delta


# ── the chain ─────────────────────────────────────────────────────────────────────────────
def validate_amounts(facts: ClaimFacts) -> None:
    """Raise ``ValidationError`` (field errors) for amounts no settlement can accept."""
    errors: dict[str, list[str]] = {}
    for name in ("total_cost", "policy_scope_cost", "basic_given", "critical_given"):
        value = getattr(facts, name)
        if value is not None and value < 0:
            field_name = {"basic_given": "basic_paid", "critical_given": "critical_paid"}.get(name, name)
            errors.setdefault(field_name, []).append(_("金额不能为负数。"))
    if facts.policy_scope_cost > facts.total_cost:
        errors.setdefault("policy_scope_cost", []).append(_("政策范围内费用不能超过医疗总费用。"))
    given = (facts.basic_given or ZERO) + (facts.critical_given or ZERO)
    if not errors and given > facts.policy_scope_cost:
        errors.setdefault("basic_paid", []).append(
            _("平台已结算的基本医保与大病保险合计%(given)s元超过政策范围内费用%(scope)s元。")
            % {"given": yuan(given), "scope": yuan(facts.policy_scope_cost)})
    if errors:
        raise ValidationError(errors)


def settle(policy, facts: ClaimFacts, ledger: dict[str, Decimal]) -> Settlement:
    """Settle one claim against the person's year ledger (not modified; see ``delta``)."""
    validate_amounts(facts)
    delta: dict[str, Decimal] = {"total_cost": facts.total_cost, "policy_scope_cost": facts.policy_scope_cost}
    basic, d = basic_tier(policy, facts, ledger)
    delta.update(d)
    left = facts.policy_scope_cost - basic.paid
    critical, d = critical_tier(policy, facts, ledger, left)
    delta.update(d)
    left -= critical.paid
    assistance, d = assistance_tier(policy, facts, ledger, left)
    delta.update(d)
    left -= assistance.paid
    second, d = second_round_tier(policy, facts, ledger, left)
    delta.update(d)
    left -= second.paid
    oop = facts.total_cost - basic.paid - critical.paid - assistance.paid - second.paid
    delta["out_of_pocket"] = oop
    delta[MONTH_FIELDS[facts.service_month - 1]] = oop
    return Settlement(basic, critical, assistance, second, oop, delta, left)
