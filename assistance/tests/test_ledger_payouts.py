"""One-time payments on the claims ledger (issue 11, DOMAIN.md §5-§6): a tilt approval's
catch-up and a retroactive assistance are ledger entries, so the thresholds and caps of every
later claim see them.  Shiyan pack; amounts by hand."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from assistance import services
from claims.models import CashStatus, EntryKind, LedgerEntry, PersonYearLedger
from claims.services import ledger_scratch_differences

from .test_amounts import approve_determination


def test_tilt_approved_in_february_counts_for_the_later_claims(staff, agent2, make_person, give_identity,
                                                              settle_claim, file_case):
    """低保 (category 2: 70 %, cap 50 000); tilt above 5 000 at 50 %, cap 100 000.
    Jan: 50 000 − basic 25 000 − critical 5 000 = 20 000 → assistance 14 000, left 6 000.
    Tilt approved 2024-02-20: catch-up (6 000 − 5 000) × 50 % = 500.00, on the ledger.
    Mar: 20 000 − basic 10 000 = 10 000 → assistance 7 000, left 3 000 → cumulative 9 000 →
    tilt (9 000 − 5 000) × 50 % − 500 = 1 500.00 (not 0: the threshold is not applied again).
    May: 800 000 − basic 200 000 − critical 100 000 = 500 000 → assistance 50 000 − 21 000 =
    29 000, left 471 000 → tilt capped: 100 000 − 2 000 = 98 000.00 (not the whole cap again)."""
    person = make_person("倾斜")
    give_identity(person, "subsistence", date(2022, 1, 1))
    settle_claim(person, date(2024, 1, 15), policy_scope_cost="50000", basic_paid="25000", critical_paid="5000")
    on = date(2024, 2, 20)
    app = file_case(staff["agent"], person, kind="tilt", basis="", on=on)
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=on)
    assert app.amount == Decimal("500.00")
    entry = LedgerEntry.objects.get(person=person)
    assert (entry.kind, entry.application_id, entry.second_round, entry.cash_status) == (
        EntryKind.PAYOUT, app.pk, Decimal("500.00"), CashStatus.TO_PAY)
    march = settle_claim(person, date(2024, 3, 1), policy_scope_cost="20000", basic_paid="10000")
    assert (march.assistance_paid, march.second_round_paid) == (Decimal("7000.00"), Decimal("1500.00"))
    may = settle_claim(person, date(2024, 5, 1), policy_scope_cost="800000", basic_paid="200000",
                       critical_paid="100000")
    assert (may.assistance_paid, may.second_round_paid) == (Decimal("29000.00"), Decimal("98000.00"))
    ledger = PersonYearLedger.objects.get(person=person, year=2024)
    assert (ledger.assistance_paid, ledger.second_round_paid) == (Decimal("50000.00"), Decimal("100000.00"))
    assert ledger_scratch_differences(year=2024, person_ids=[person.pk]) == []
    services.payout_create(actor=staff["finance"], application=app, reference="ZF-T1")
    entry.refresh_from_db()
    assert (entry.cash_status, entry.cash_reference) == (CashStatus.PAID, "ZF-T1")


def test_retroactive_assistance_consumes_the_deductible_and_the_cap(staff, agent2, make_person, settle_claim,
                                                                    file_case):
    """因病致贫 (category 4: annual deductible 5 000, 50 %, cap 50 000), determined 2024-03-15
    (out-of-pocket 20 000 + 11 000 = 31 000 > 30 000 in the 12 months before).
    Retroactive: 2023 (12 000 − 5 000) × 50 % = 3 500; 2024 (10 000 − 5 000) × 50 % = 2 500.
    April 2024, 4 000 left: the deductible was already met by the retroactive claim → 2 000.00
    (not 0.00).  May 2024, 200 000 left: 50 % = 100 000 capped at 50 000 − 2 500 − 2 000 =
    45 500.00 (the cap counts the retroactive payment)."""
    person = make_person("追溯")
    settle_claim(person, date(2023, 6, 1), policy_scope_cost="30000", basic_paid="18000", total_cost="38000")
    settle_claim(person, date(2024, 1, 10), policy_scope_cost="20000", basic_paid="10000", total_cost="21000")
    approve_determination(staff, agent2, person, file_case)
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=date(2024, 3, 20))
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=date(2024, 3, 20))
    assert app.amount == Decimal("6000.00")
    assert sorted(e.assistance for e in LedgerEntry.objects.filter(application_id=app.pk)) == [
        Decimal("2500.00"), Decimal("3500.00")]
    april = settle_claim(person, date(2024, 4, 10), policy_scope_cost="8000", basic_paid="4000")
    assert april.assistance_paid == Decimal("2000.00")
    may = settle_claim(person, date(2024, 5, 10), policy_scope_cost="300000", basic_paid="100000")
    assert may.assistance_paid == Decimal("45500.00")
    assert PersonYearLedger.objects.get(person=person, year=2024).assistance_paid == Decimal("50000.00")
    for year in (2023, 2024):
        assert ledger_scratch_differences(year=year, person_ids=[person.pk]) == []


def test_bureau_wide_object_list_honours_a_county_override(shiyan, staff, make_person, give_identity):
    """The county overrides 低边/监测 (``monitored``) to category 3 → no category (not an
    object) … and the city leaves ``marginal`` unset; a county that maps ``marginal`` to
    category 3 makes its marginal person an object in the bureau-wide list as in the township's."""
    from assistance.selectors import assistance_objects
    from yibao_site.services import policy_parameter_save

    person = make_person("边缘")
    give_identity(person, "marginal", date(2024, 1, 1))
    on = date(2024, 6, 1)
    city_key = "assistance.category.marginal"
    from yibao_site.models import PolicyParameter
    PolicyParameter.objects.filter(key=city_key).delete()
    assert not assistance_objects(staff["reviewer"], on).filter(pk=person.pk).exists()
    policy_parameter_save(region=shiyan.county, key=city_key, value=3, effective_from=date(2024, 1, 1),
                          source="县级规定")
    township_view = assistance_objects(staff["agent"], on)
    bureau_view = assistance_objects(staff["reviewer"], on)
    assert township_view.get(pk=person.pk).category == 3
    assert bureau_view.get(pk=person.pk).category == 3
