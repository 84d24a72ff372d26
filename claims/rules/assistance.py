"""Tiers 3 and 4: medical assistance (医疗救助) and second-round assistance (再救助/倾斜救助)."""
from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_noop

from .base import (
    INPATIENT, ZERO, ClaimFacts, TierResult, _, _dec, marginal, not_yet_in_force, percent, threshold_consumed,
    to_fen, within_cap, yuan,
)
from .insurance import _uncertified_text, chronic_uncertified


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
