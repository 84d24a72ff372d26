"""The batch's fast paths (issue 14) give what the plain ones give: Claim rows built
positionally, the rules' texts in the batch's language, the ledger write by array literals."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext

from claims import rules, services
from claims.models import Claim, PersonYearLedger
from claims.services import engine

from . import factories as f


def test_settle_one_passes_claims_fields_in_the_models_order():
    assert tuple(field.attname for field in Claim._meta.concrete_fields) == engine._CLAIM_FIELDS


def test_rules_texts_follow_the_batch_language_and_the_cache_stays_right():
    message = "不设限额"
    with translation.override("en"):
        english = gettext(message)
    with translation.override("zh-hans"):
        chinese = gettext(message)
    assert english != chinese
    with rules.language("en"):
        assert rules._(message) == english
        with rules.language("zh-hans"):
            assert rules._(message) == chinese
        assert rules._(message) == english
    rules.base._translated.cache_clear()
    # a miss computed while another language is active still caches the asked one
    with rules.language("zh-hans"), translation.override("en"):
        assert rules._(message) == chinese
    with translation.override("zh-hans"):
        assert rules._(message) == chinese
    with translation.override("en"):
        assert rules._(message) == english  # outside a batch: Django's active language


def test_persons_of_reads_ids_and_shares_townships(shiyan):
    people = [f.insured(shiyan, township=i % 2) for i in range(4)]
    found = engine._persons_of({p.pk for p in people} | {10**9})
    assert set(found) == {p.pk for p in people}
    for p in people:
        tid, township = found[p.pk]
        assert tid == p.township_id and township.pk == p.township_id and township.path == p.township.path
    assert found[people[0].pk][1] is found[people[2].pk][1]


def test_numeric_literal_is_exact_or_left_to_the_driver():
    assert engine._numeric_literal([D("1.50"), D("-0.00"), D("5E+3")]) == "{1.50,-0.00,5E+3}"
    assert engine._numeric_literal([D("1.50"), 2]) == [D("1.50"), 2]
    assert isinstance(engine._numeric_literal([D("NaN")]), list)


@pytest.mark.django_db
def test_ledger_write_stores_what_the_rows_hold_with_one_or_several_timestamps(shiyan, staff):
    people = [f.insured(shiyan, township=0) for _i in range(3)]
    rows = engine._lock_ledgers({(p.pk, 2024) for p in people})
    now = timezone.now()
    values = [D("1234.56"), D("5E+3"), D("-0.01")]
    for k, row in enumerate(rows.values()):
        for n, name in enumerate(rules.LEDGER_FIELDS):
            setattr(row, name, values[(k + n) % 3] if n % 2 else D("0.00"))
        row.claims_count, row.updated_at = k + 1, now
    engine._write_ledgers(list(rows.values()))  # one shared timestamp
    for k, (key, row) in enumerate(sorted(rows.items())):
        stored = PersonYearLedger.objects.get(person_id=key[0], year=2024)
        assert [getattr(stored, n) for n in rules.LEDGER_FIELDS] == [getattr(row, n) for n in rules.LEDGER_FIELDS]
        assert stored.claims_count == row.claims_count and stored.updated_at == now
    later = [now, now + timezone.timedelta(seconds=1), now + timezone.timedelta(seconds=2)]
    for row, stamp in zip(rows.values(), later):
        row.updated_at, row.claims_count = stamp, row.claims_count + 10
    engine._write_ledgers(list(rows.values()))  # a timestamp each
    for row in rows.values():
        stored = PersonYearLedger.objects.get(pk=row.pk)
        assert stored.updated_at == row.updated_at and stored.claims_count == row.claims_count


@pytest.mark.django_db
def test_a_batch_settles_like_one_claim_at_a_time(shiyan, staff):
    """The batch (positional rows, shared townships, one language read) and single settlement
    give the same amounts, explanations and policy versions."""
    people = [f.insured(shiyan, township=i % 2) for i in range(3)]
    f.identity(people[0], "subsistence")
    specs = [(people[i % 3], ("inpatient", "outpatient", "chronic")[i % 3], 1 + i % 3, date(2024, 2, 1 + i),
              D(3000 + 517 * i), D(2500 + 400 * i)) for i in range(9)]
    inputs = [services.ClaimInput(person_id=p.pk, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                                  policy_scope_cost=s) for p, v, lvl, d, t, s in specs]
    batch = services.claims_settle_batch(inputs=inputs, actor=staff["clerk"])
    compared = [n for n in engine._CLAIM_FIELDS if n not in ("id", "settled_at", "created_by_id", "person_id")]
    first = [[getattr(c, n) for n in compared] for c in batch]
    Claim.objects.all().delete()
    PersonYearLedger.objects.all().delete()
    one = [services.claim_settle(person=p, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                                 policy_scope_cost=s, actor=staff["clerk"]) for p, v, lvl, d, t, s in specs]
    assert first == [[getattr(c, n) for n in compared] for c in one]


def test_new_claim_is_the_instance_the_model_builds():
    values = (None, 7, 2024, "resident", "inpatient", 2, True, False, True, date(2024, 3, 1), None, D("10.00"),
              D("9.00"), D("5.00"), D("0.00"), D("0.00"), D("0.00"), D("5.00"), None, False, None, None, "", "",
              False, "settled", "api", None, "v1", {"tiers": {}}, "说明", None, None, None)
    built, fast = Claim(*values), engine._new_claim(values)
    assert fast.__dict__.keys() == built.__dict__.keys()
    assert {k: v for k, v in fast.__dict__.items() if k != "_state"} == \
        {k: v for k, v in built.__dict__.items() if k != "_state"}
    assert fast._state.adding and fast._state.db is None and fast.pk is None
    from django.db.models.signals import post_init, pre_init
    assert not pre_init.has_listeners(Claim) and not post_init.has_listeners(Claim)


def test_breakdown_copy_text_is_the_drivers_json_with_the_shared_record_encoded_once():
    import json

    field = Claim._meta.get_field("breakdown")
    policy = {"basic.rate": {"value": "0.85", "id": 7}, "kinds": {"value": ["a", "b"]}}
    memo: dict = {}
    for value in ({}, {"policy": policy}, {"tiers": {"basic": {"paid": "1.00"}}, "policy": policy, "text": "中"},
                  {"policy": "not a dict", "n": 1}, {"policy": policy, "empty": {}}):
        text = field.copy_text(value, memo)
        assert json.loads(text) == json.loads(json.dumps(value))
    assert [entry[0] for entry in memo.values()] == [policy]  # encoded once, kept alive with its text
    assert field.copy_text(["a list"], memo) is None  # anything else: the driver's own adaptation


def test_the_batch_uses_the_shared_collector_pause():  # tested in yibao_site/tests/test_collector.py
    from yibao_site.collector import collector_paused

    assert engine.collector_paused is services.collector_paused is collector_paused


@pytest.mark.django_db
def test_late_keys_are_those_the_latest_dates_in_force_give(shiyan, staff):
    """``_late_keys`` (on PostgreSQL one probe per key of the claims in force dated after its
    earliest new date) finds what comparing with each key's latest date in force finds: a claim
    dated after it in another year, reversed, or on the same day does not make a key late."""
    people = [f.insured(shiyan, township=0, year=y) for y in (2024,) for _i in range(6)]
    for p in people:
        f.enrol(p, year=2023)
    a, b, c, d, e, g = people
    for p, on in [(a, date(2024, 5, 1)), (b, date(2024, 5, 1)), (b, date(2024, 3, 1)), (c, date(2024, 5, 1)),
                  (d, date(2024, 2, 1)), (e, date(2024, 6, 1))]:
        services.claims_settle_batch(inputs=[services.ClaimInput(
            person_id=p.pk, visit_type="outpatient", hospital_level=1, service_date=on, total_cost=D("300"),
            policy_scope_cost=D("250"))], actor=staff["clerk"])
    services.claim_reverse(claim=Claim.objects.get(person=e), actor=staff["clerk"])  # reversed: not in force
    new = [(a, date(2024, 4, 30)), (a, date(2024, 6, 1)),  # late (its earliest is before May 1st)
           (b, date(2024, 5, 1)),                        # same day as its latest: not late
           (c, date(2023, 12, 1)),                        # 2023: c's later claims are 2024's
           (d, date(2024, 1, 15)),                        # late
           (e, date(2024, 1, 1)), (g, date(2024, 1, 1))]  # nothing in force
    inputs = [services.ClaimInput(person_id=p.pk, visit_type="outpatient", hospital_level=1, service_date=on,
                                  total_cost=D("100"), policy_scope_cost=D("90")) for p, on in new]
    keys = {(i.person_id, i.service_date.year) for i in inputs}
    latest = engine._latest_live_dates(keys)
    expected = {(i.person_id, i.service_date.year) for i in inputs
                if (i.person_id, i.service_date.year) in latest
                and i.service_date < latest[(i.person_id, i.service_date.year)]}
    assert expected == {(a.pk, 2024), (d.pk, 2024)}
    assert engine._late_keys(inputs) == expected


@pytest.mark.django_db
def test_ledger_write_of_the_changed_amounts_stores_what_writing_every_amount_stores(shiyan, staff):
    """The batch writes only the amount columns some row changed: the stored rows are those
    that writing every column gives."""
    people = [f.insured(shiyan, township=0) for _i in range(3)]
    rows = engine._lock_ledgers({(p.pk, 2024) for p in people})
    now = timezone.now()
    for k, row in enumerate(rows.values()):
        for n, name in enumerate(rules.LEDGER_FIELDS):
            setattr(row, name, D(f"{k + 1}{n}.25"))
        row.claims_count, row.updated_at = 3, now
    engine._write_ledgers(list(rows.values()))
    full = {}
    for k, row in enumerate(rows.values()):
        row.total_cost, row.oop_m03 = row.total_cost + 1, D("7.10") if k else row.oop_m03
        row.claims_count, row.updated_at = 4, now + timezone.timedelta(seconds=1)
        full[row.pk] = [getattr(row, n) for n in rules.LEDGER_FIELDS]
    engine._write_ledgers(list(rows.values()), ["oop_m03", "total_cost"])
    for pk, amounts in full.items():
        stored = PersonYearLedger.objects.get(pk=pk)
        assert [getattr(stored, n) for n in rules.LEDGER_FIELDS] == amounts
        assert stored.claims_count == 4 and stored.updated_at == now + timezone.timedelta(seconds=1)


def test_breakdown_is_byte_for_byte_the_recursive_jsonable_one():
    """The flat tier loop of ``Settlement.breakdown`` writes what ``{"paid": …, **jsonable(detail)}``
    wrote, key order included, on Decimals of every shape and on non-flat details."""
    import json
    import random
    from datetime import date
    from decimal import Decimal as D

    from claims.rules import Settlement, TierResult
    from yibao_site.money import jsonable

    def old(s):
        def tier(t):
            return {"paid": str(t.paid), **jsonable(t.detail)}
        return {"tiers": {"basic": tier(s.basic), "critical": tier(s.critical),
                          "assistance": tier(s.assistance), "second_round": tier(s.second_round)},
                "scope_self_pay": str(s.scope_self_pay),
                "ledger_delta": {k: str(v) for k, v in s.delta.items() if v}}

    rng = random.Random(14)
    leaves = [None, True, False, 3, "platform", 0.5, D("0"), D("-0.00"), D("5E+3"), D("1E-7"), D("0.8500"),
              D("1234.5"), date(2024, 3, 1), [D("1.5"), 2], (D("2"),), {"x": D("3.1")}]

    def detail():
        return {rng.choice(["rate", "cap", "paid", "by_rate", "capped", "reason", "segment"]) + str(rng.randint(0, 3)):
                rng.choice(leaves + [D(rng.randint(-10**7, 10**7)).scaleb(rng.randint(-4, 2))])
                for _ in range(rng.randint(0, 8))} | ({"paid": D("9.99")} if rng.random() < 0.2 else {})

    for _ in range(500):
        tiers = [TierResult(paid=D(rng.randint(0, 10**6)).scaleb(-2), detail=detail()) for _ in range(4)]
        s = Settlement(*tiers, out_of_pocket=D("1.00"), delta={"total_cost": D("10.00"), "critical_base": D("0")},
                       scope_self_pay=D("0.00"))
        assert json.dumps(s.breakdown(), ensure_ascii=False) == json.dumps(old(s), ensure_ascii=False)
