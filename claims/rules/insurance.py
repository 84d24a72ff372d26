"""Tiers 1 and 2: basic insurance (基本医保) and critical-illness insurance (大病保险)."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_noop

from chronic.public import icd10_in_ranges

from .base import (
    CHRONIC, EMPLOYEE, INPATIENT, OUTPATIENT, RESIDENT, ZERO, ClaimFacts, TierResult, _, _dec, marginal,
    not_yet_in_force, percent, threshold_consumed, to_fen, within_cap, yuan,
)


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
