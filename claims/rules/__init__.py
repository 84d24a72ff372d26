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

from .assistance import (
    SECOND_ROUND_LABEL, assistance_amount, assistance_reaches, assistance_tier, second_round_scheme,
    second_round_tier,
)
from .base import (
    CHRONIC, EMPLOYEE, INPATIENT, LEDGER_FIELDS, MONTH_FIELDS, OUTPATIENT, RESIDENT, ZERO, AssistanceStatus,
    ClaimFacts, Settlement, TierResult, _, apply_delta, empty_ledger, language, marginal, not_yet_in_force, percent,
    segmented, threshold_consumed, within_cap, yuan,
)
from .chain import settle, validate_amounts
from .insurance import (
    VISIT_LABEL, basic_rate_key, basic_tier, chronic_uncertified, critical_applies, critical_tier,
    icd10_in_ranges, two_diseases_rate,
)

__all__ = [
    "SECOND_ROUND_LABEL", "assistance_amount", "assistance_reaches", "assistance_tier", "second_round_scheme",
    "second_round_tier",
    "CHRONIC", "EMPLOYEE", "INPATIENT", "LEDGER_FIELDS", "MONTH_FIELDS", "OUTPATIENT", "RESIDENT", "ZERO",
    "AssistanceStatus", "ClaimFacts", "Settlement", "TierResult", "_", "apply_delta", "empty_ledger", "language",
    "marginal",
    "not_yet_in_force", "percent", "segmented", "threshold_consumed", "within_cap", "yuan",
    "settle", "validate_amounts",
    "VISIT_LABEL", "basic_rate_key", "basic_tier", "chronic_uncertified", "critical_applies", "critical_tier",
    "icd10_in_ranges", "two_diseases_rate",
]
