"""The chain: one claim through the four tiers against the person's year ledger."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

from .assistance import assistance_tier, second_round_tier
from .base import MONTH_FIELDS, ZERO, ClaimFacts, Settlement, _, yuan
from .insurance import basic_tier, critical_tier


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
