"""Property tests of the settlement chain (hypothesis), on both packs."""
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.rules import (
    LEDGER_FIELDS,
    ZERO,
    AssistanceStatus,
    ClaimFacts,
    apply_delta,
    empty_ledger,
    second_round_scheme,
    settle,
)

from .packs import pack_snapshot

POLICIES = {name: pack_snapshot(name) for name in ("shiyan-2022", "yicheng-2024")}

cents = st.integers(min_value=0, max_value=30_000_000).map(lambda c: D(c) / 100)

statuses = st.builds(
    AssistanceStatus,
    category=st.sampled_from([None, 1, 2, 3, 4]),
    tilt=st.booleans(),
    transitional_kinds=st.sampled_from([(), ("monitored",), ("returned_poverty",), ("subsistence",)]),
)


@st.composite
def claim(draw, scheme, status, employee_status, critical_cap):
    scope = draw(cents)
    outside = draw(st.integers(min_value=0, max_value=2_000_000).map(lambda c: D(c) / 100))
    platform = draw(st.booleans())
    basic_given = critical_given = None
    if platform:
        basic_given = (scope * draw(st.sampled_from([D("0"), D("0.5"), D("0.9")]))).quantize(D("0.01"))
        critical_given = ((scope - basic_given) * draw(st.sampled_from([D("0"), D("0.3")]))).quantize(D("0.01"))
    return ClaimFacts(
        scheme=scheme, employee_status=employee_status,
        visit_type=draw(st.sampled_from(["inpatient", "outpatient", "chronic"])),
        hospital_level=draw(st.integers(1, 3)), service_month=draw(st.integers(1, 12)),
        total_cost=scope + outside, policy_scope_cost=scope,
        in_province=draw(st.booleans()), referred=draw(st.booleans()), covered=draw(st.booleans()),
        inpatient_stay_open=draw(st.booleans()),
        basic_given=basic_given, critical_given=critical_given,
        critical_cap=critical_cap,
        assistance=status,
    )


@st.composite
def year_of_claims(draw):
    pack = draw(st.sampled_from(sorted(POLICIES)))
    scheme = draw(st.sampled_from(["resident", "employee"]))
    status = draw(statuses)
    employee_status = draw(st.sampled_from(["in_service", "retired", "flexible"])) if scheme == "employee" else ""
    critical_cap = draw(st.sampled_from([None, D("403000"), D("5000")]))  # the enrolment's, fixed for the year
    claims = draw(st.lists(claim(scheme, status, employee_status, critical_cap), min_size=1, max_size=12))
    return pack, claims


def caps(policy, f: ClaimFacts):
    """The annual cap of each pool for this person (None = no cap)."""
    def dec(key):
        return policy.decimal(key, None) if policy.has(key) else None
    result = {f"basic_{v}_paid": dec(f"basic.{f.scheme}.{v}.annual_cap") for v in ("inpatient", "outpatient", "chronic")}
    if f.critical_cap is not None:
        result["critical_paid"] = f.critical_cap
    elif policy.has(f"critical.{f.scheme}.cap"):
        result["critical_paid"] = dec(f"critical.{f.scheme}.cap")
    if f.assistance.category is not None:
        result["assistance_paid"] = dec(f"assistance.cat{f.assistance.category}.annual_cap")
    chosen = second_round_scheme(policy, f)
    if chosen is not None:
        result["second_round_paid"] = dec(f"{chosen[1]}.cap")
    return result


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(year_of_claims())
def test_no_tier_pays_more_than_is_left_and_out_of_pocket_is_never_negative(data):
    pack, claims = data
    policy = POLICIES[pack]
    ledger = empty_ledger()
    for f in claims:
        s = settle(policy, f, ledger)
        left = f.policy_scope_cost
        for tier in (s.basic, s.critical, s.assistance, s.second_round):
            assert ZERO <= tier.paid <= left
            assert tier.paid == tier.paid.quantize(D("0.01"))
            left -= tier.paid
        assert s.scope_self_pay == left >= 0
        assert s.out_of_pocket >= 0 and s.out_of_pocket == f.total_cost - f.policy_scope_cost + left
        apply_delta(ledger, s.delta)
    assert ledger["out_of_pocket"] == sum((ledger[f"oop_m{m:02d}"] for m in range(1, 13)), ZERO)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(year_of_claims())
def test_caps_hold_over_any_sequence_of_computed_claims(data):
    pack, claims = data
    policy = POLICIES[pack]
    claims = [ClaimFacts(**{**f.__dict__, "basic_given": None, "critical_given": None}) for f in claims]
    ledger = empty_ledger()
    for f in claims:
        apply_delta(ledger, settle(policy, f, ledger).delta)
        for pool, cap in caps(policy, f).items():
            if cap is not None:
                assert ledger[pool] <= cap, (pool, ledger[pool], cap)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(year_of_claims(), st.data())
def test_reversing_any_claim_restores_the_ledger_exactly(data, draw):
    pack, claims = data
    policy = POLICIES[pack]
    ledger = empty_ledger()
    deltas = []
    for f in claims:
        s = settle(policy, f, ledger)
        apply_delta(ledger, s.delta)
        deltas.append(s.delta)
    # reverse(settle(x)) on top of any history restores the ledger as it was before x
    before = dict(ledger)
    extra = settle(policy, claims[0], ledger)
    apply_delta(ledger, extra.delta)
    apply_delta(ledger, extra.delta, sign=-1)
    assert ledger == before
    # reversing every claim, in any order, returns to the empty ledger
    order = draw.draw(st.permutations(range(len(deltas))))
    for i in order:
        apply_delta(ledger, deltas[i], sign=-1)
    assert all(ledger[name] == 0 for name in LEDGER_FIELDS)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(POLICIES)), st.lists(cents, min_size=1, max_size=8))
def test_annual_thresholds_are_paid_once_split_or_whole(pack, parts):
    """Splitting a year's chronic self-pay into several claims pays the same critical-illness
    amount (F(total), no double deductible, no rounding drift) as one claim of the total."""
    policy = POLICIES[pack]
    status = AssistanceStatus()

    def chronic(amount):
        return ClaimFacts(scheme="resident", visit_type="chronic", hospital_level=1, service_month=1,
                          total_cost=amount, policy_scope_cost=amount, basic_given=ZERO, assistance=status)
    ledger = empty_ledger()
    split = ZERO
    for amount in parts:
        s = settle(policy, chronic(amount), ledger)
        apply_delta(ledger, s.delta)
        split += s.critical.paid
    whole = settle(policy, chronic(sum(parts, ZERO)), empty_ledger()).critical.paid
    assert split == whole
