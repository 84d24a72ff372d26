"""One ledger, right in any order of events (issue 11, DOMAIN.md §5): late claims, reversals,
re-settlement with adjustment entries, derived caps, the ``ledgers/`` API.  Amounts by hand."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied

from claims import services
from claims.models import CashStatus, Claim, EntryKind, LedgerEntry, PersonYearLedger
from members.models import Enrollment

from . import factories as f


def ledger(p, year=2024):
    return PersonYearLedger.objects.get(person=p, year=year)


def totals(p, year=2024):
    row = ledger(p, year)
    return row.assistance_paid, row.second_round_paid


def scratch_is_clean(p, year=2024):
    return services.ledger_scratch_differences(year=year, person_ids=[p.pk]) == []


def platform(p, on, *, scope="50000", basic="30000", critical="0"):
    """A platform-settled inpatient claim (basic and critical given): left after insurance =
    scope − basic − critical."""
    return f.settle(p, on=on, total=scope, scope=scope, basic_paid=D(basic), critical_paid=D(critical))


@pytest.fixture
def dibao(yicheng):
    """Yicheng 低保 (category 2): assistance 70 %, no deductible, cap 30 000; 再救助 above
    5 000 at 70 %, cap 20 000."""
    p = f.insured(yicheng)
    f.identity(p, "subsistence")
    return p


def test_reversing_march_resettles_may_and_july_from_scratch(dibao):
    """Each claim leaves 20 000 after insurance.  In order: March assistance 14 000, May
    14 000, July 2 000 (cap 30 000); 再救助 on 6 000 + 6 000 + 18 000: 700, 4 200, 12 600.
    March reversed: May and July from scratch get 14 000 + 14 000 = 28 000 of assistance and
    (12 000 − 5 000) × 70 % = 4 900 of 再救助 (not 16 000 and 16 800)."""
    march = platform(dibao, date(2024, 3, 10))
    may = platform(dibao, date(2024, 5, 10))
    july = platform(dibao, date(2024, 7, 10))
    assert [c.assistance_paid for c in (march, may, july)] == [D("14000.00"), D("14000.00"), D("2000.00")]
    assert [c.second_round_paid for c in (march, may, july)] == [D("700.00"), D("4200.00"), D("12600.00")]
    assert totals(dibao) == (D("30000.00"), D("17500.00"))

    services.claim_reverse(claim=march, reason="重复结算", actor=f.clerk())
    assert totals(dibao) == (D("28000.00"), D("4900.00"))
    entries = {e.claim_id: e for e in LedgerEntry.objects.filter(person=dibao)}
    assert set(entries) == {may.pk, july.pk}
    # May: 再救助 4 200 → 700 (追回 3 500); July: assistance 2 000 → 14 000, 再救助 12 600 → 4 200 (补付 3 600)
    assert (entries[may.pk].assistance, entries[may.pk].second_round) == (D("0.00"), D("-3500.00"))
    assert entries[may.pk].cash_status == CashStatus.TO_RECOVER and "追回3500元" in entries[may.pk].reason
    assert (entries[july.pk].assistance, entries[july.pk].second_round) == (D("12000.00"), D("-8400.00"))
    assert entries[july.pk].cash_status == CashStatus.TO_PAY and "补付3600元" in entries[july.pk].reason
    assert all(e.kind == EntryKind.ADJUSTMENT and "冲销" in e.reason for e in entries.values())
    # the claims themselves are never edited
    may.refresh_from_db()
    assert (may.assistance_paid, may.second_round_paid) == (D("14000.00"), D("4200.00"))
    # out-of-pocket: May 50 000 − 30 000 − 14 000 − 700 = 5 300, July 50 000 − 30 000 − 14 000 − 4 200 = 1 800
    assert ledger(dibao).claims_count == 2 and ledger(dibao).out_of_pocket == D("7100.00")
    assert scratch_is_clean(dibao)
    assert (ledger(dibao).oop_m03, ledger(dibao).oop_m05, ledger(dibao).oop_m07) == (
        D("0.00"), D("5300.00"), D("1800.00"))


def test_a_late_claim_is_settled_in_its_place_and_later_claims_are_adjusted(dibao):
    """May and July first (14 000 + 14 000 = 28 000 assistance); then a March claim arrives:
    from scratch March 14 000, May 14 000, July 2 000 — the March claim is written with its
    own place's 14 000, July gets an adjustment of −12 000 (追回), the year still 30 000."""
    may = platform(dibao, date(2024, 5, 10))
    july = platform(dibao, date(2024, 7, 10))
    assert totals(dibao) == (D("28000.00"), D("4900.00"))
    march = platform(dibao, date(2024, 3, 10))
    assert (march.assistance_paid, march.second_round_paid) == (D("14000.00"), D("700.00"))
    assert totals(dibao) == (D("30000.00"), D("17500.00"))
    adj = LedgerEntry.objects.get(person=dibao, claim=july)
    assert adj.assistance == D("-12000.00") and "补录" in adj.reason
    # May's 再救助 700 → 4 200 (+3 500), July 4 200 → 12 600 (+8 400)
    assert LedgerEntry.objects.get(person=dibao, claim=may).second_round == D("3500.00")
    assert adj.second_round == D("8400.00")
    assert ledger(dibao).claims_count == 3 and scratch_is_clean(dibao)


def test_correcting_a_claim_resettles_the_year(dibao):
    """March corrected from 20 000 left to 10 000 left: from scratch March 7 000, May 14 000,
    July 9 000 (30 000 − 21 000) of assistance."""
    march = platform(dibao, date(2024, 3, 10))
    platform(dibao, date(2024, 5, 10))
    july = platform(dibao, date(2024, 7, 10))
    new = services.claim_correct(claim=march, actor=f.clerk(), basic_paid=D("40000"), critical_paid=D("0"), reason="金额录错")
    assert new.assistance_paid == D("7000.00")
    assert ledger(dibao).assistance_paid == D("30000.00")
    # July: +12 000 when March is reversed (2 000 → 14 000), −5 000 when the corrected March
    # (dated before it) is settled (14 000 → 9 000): two adjustments, 2 000 → 9 000 in all.
    july_entries = LedgerEntry.objects.filter(person=dibao, claim=july).order_by("id")
    assert [e.assistance for e in july_entries] == [D("12000.00"), D("-5000.00")]
    assert scratch_is_clean(dibao)


def test_a_reviewer_resettles_after_correcting_an_identity_preview_then_confirm(dibao, yicheng, staff):
    """Without the 低保 identity (added later, valid from 2024-01-01) a July claim paid no
    assistance; the preview shows 14 000 + 再救助 700 due, writes nothing; confirm writes one
    补付 entry; the same again finds nothing."""
    from members.models import Identity

    other = f.insured(yicheng)
    claim = platform(other, date(2024, 7, 10))
    assert claim.assistance_paid == 0
    f.identity(other, "subsistence", valid_from=date(2024, 1, 1))
    reviewer = staff["reviewer"]
    preview = services.ledger_resettle(person=other, year=2024, confirm=False, actor=reviewer)
    assert not preview.confirmed and [(e.assistance, e.second_round) for e in preview.entries] == [
        (D("14000.00"), D("700.00"))]
    assert not LedgerEntry.objects.exists() and ledger(other).assistance_paid == 0
    done = services.ledger_resettle(person=other, year=2024, confirm=True, actor=reviewer, reason="民政补录低保身份")
    assert done.confirmed and LedgerEntry.objects.get().cash_status == CashStatus.TO_PAY
    assert "民政补录低保身份" in LedgerEntry.objects.get().reason
    assert totals(other) == (D("14000.00"), D("700.00"))
    again = services.ledger_resettle(person=other, year=2024, confirm=True, actor=reviewer)
    assert again.entries == [] and LedgerEntry.objects.count() == 1
    with pytest.raises(PermissionDenied):
        services.ledger_resettle(person=other, year=2024, confirm=True, actor=staff["clerk"])
    assert Identity.objects.filter(person=other).count() == 1


def test_a_december_claim_after_next_years_premium_takes_away_the_zero_claim_bonus(yicheng):
    """Yicheng from 2025: a zero-reimbursement 2024 followed by a normal 2025 payment adds
    3 000 to the 2025 critical-illness cap (400 000 → 403 000).  A December 2024 claim settled
    after the 2025 premium was paid makes 2024 a year with fund payment: the 2025 cap goes
    back to 400 000, and a 2025 claim the old cap paid is adjusted."""
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("403000.00")
    # a 2025 claim that reaches the cap: left after basic 1 000 000 → critical would pay far more
    big = f.settle(p, on=date(2025, 3, 1), total="1200000", scope="1200000", basic_paid=D("200000"))
    assert big.critical_paid == D("403000.00")
    f.settle(p, on=date(2024, 12, 20), total="12000")  # basic pays: 2024 is no longer zero-claim
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is True
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")
    adj = LedgerEntry.objects.get(person=p, year=2025)
    assert adj.critical == D("-3000.00") and "封顶线" in adj.reason
    assert ledger(p, 2025).critical_paid == D("400000.00")


def test_ledgers_api_shows_totals_and_entries_and_resettles(dibao, staff, api):
    march = platform(dibao, date(2024, 3, 10))
    platform(dibao, date(2024, 5, 10))
    services.claim_reverse(claim=march, actor=f.clerk())
    client = api(staff["supervisor"])
    res = client.get(f"/api/v1/ledgers/?person={dibao.id_number}&year=2024")
    assert res.status_code == 200, res.content
    row = res.json()["results"][0]
    assert (row["assistance_paid"], row["second_round_paid"]) == ("14000.00", "700.00")
    kinds = [e["kind"] for e in row["entries"]]
    assert kinds.count("claim") == 2 and kinds.count("reversal") == 1 and kinds.count("adjustment") == 1
    res = client.post("/api/v1/ledgers/resettle/", {"person": dibao.id_number, "year": 2024, "confirm": True},
                      format="json")
    assert res.status_code == 200 and res.json()["adjustments"] == []
    assert api(staff["clerk"]).post("/api/v1/ledgers/resettle/", {"person": dibao.id_number, "year": 2024},
                                    format="json").status_code == 403


def test_resettle_command_previews_then_writes(dibao, yicheng):
    from io import StringIO

    from django.core.management import call_command

    platform(dibao, date(2024, 3, 10))
    # A policy correction: 70 % becomes 80 % from 2024-01-01 for the city.
    from yibao_site.services import policy_parameter_save
    policy_parameter_save(region=yicheng.city, key="assistance.cat2.inpatient.rate", value="0.80",
                          effective_from=date(2024, 1, 1), source="更正")
    out = StringIO()
    call_command("resettle_ledgers", region=yicheng.city.code, year=2024, stdout=out)
    assert "预览" in out.getvalue() and not LedgerEntry.objects.exists()
    call_command("resettle_ledgers", region=yicheng.city.code, year=2024, confirm=True, stdout=StringIO())
    assert ledger(dibao).assistance_paid == D("16000.00")  # 20 000 × 80 %
    assert Claim.objects.get().assistance_paid == D("14000.00")


def test_admin_resettle_preview_then_confirm_and_finance_settles_cash(dibao, yicheng, staff, client):
    """The reviewer sees the adjustments on screen before anything is written; finance then
    records the 补付 with a voucher number."""
    from django.contrib.auth import get_user_model

    other = f.insured(yicheng)
    platform(other, date(2024, 7, 10))
    f.identity(other, "subsistence", valid_from=date(2024, 1, 1))
    row = ledger(other)
    client.force_login(staff["reviewer"])
    url = f"/admin/claims/personyearledger/{row.pk}/resettle/"
    page = client.get(url)
    assert page.status_code == 200 and "14000" in page.content.decode() and not LedgerEntry.objects.exists()
    done = client.post(url, {"confirm": "1", "reason": "补录身份"})
    assert done.status_code == 200 and LedgerEntry.objects.count() == 1
    assert client.post(url, {"confirm": "1"}).status_code == 200 and LedgerEntry.objects.count() == 1
    entry = LedgerEntry.objects.get()
    client.force_login(staff["finance"])
    res = client.post("/admin/claims/ledgerentry/", {"action": "settle_cash", "_selected_action": [entry.pk],
                                                     "reference": "ZF-2024-01"})
    assert res.status_code in (200, 302)
    entry.refresh_from_db()
    assert (entry.cash_status, entry.cash_reference) == (CashStatus.PAID, "ZF-2024-01")
    client.force_login(staff["clerk"])
    assert client.get(url).status_code in (302, 403)
    assert get_user_model().objects.filter(pk=staff["clerk"].pk).exists()


def test_the_sum_check_compares_at_the_fen_on_sqlite_too(db, shiyan):
    """Found by the stateful test: two claims (18.30 and 15.00 out of pocket) settled and both
    reversed sum to −3.6e−15 in SQLite's floating-point SUM; the ledger's 0.00 is right."""
    from claims import selectors
    from claims.models import Claim
    from claims.tests import factories as fx

    p = fx.insured(shiyan)
    fx.identity(p, "subsistence", valid_from=date(2024, 4, 26))
    fx.settle(p, on=date(2024, 10, 27), total=D(1220), scope=D(1220), basic_paid=D(1159), critical_paid=None)
    fx.settle(p, on=date(2024, 1, 1), total=D(96), scope=D(96), basic_paid=D(81), critical_paid=None)
    for claim in Claim.objects.filter(person=p).order_by("id"):
        services.claim_reverse(claim=Claim.objects.get(pk=claim.pk), reason="冲销", actor=fx.clerk())
    assert selectors.ledger_mismatches(year=2024, person_ids=[p.pk]) == []


def test_a_page_of_ledgers_costs_the_same_queries_for_one_or_many(dibao, yicheng, staff, api):
    """The list loads every ledger's entries in two queries per year, not two per ledger
    (found by the API fuzzer: a 1 000-row page made 600+ queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    platform(dibao, date(2024, 3, 10))
    client = api(staff["supervisor"])
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/ledgers/?year=2024").json()["results"]) == 1
    for _ in range(4):
        f.settle(f.insured(yicheng, year=2024), on=date(2024, 4, 1), total="3000")
    with CaptureQueriesContext(connection) as five:
        rows = client.get("/api/v1/ledgers/?year=2024&page_size=50").json()["results"]
    assert len(rows) == 5 and all(r["entries"] for r in rows)
    assert len(five.captured_queries) <= len(one.captured_queries) + 1


def _inputs(p, specs):
    return [services.ClaimInput(person_id=p.pk, visit_type="inpatient", hospital_level=2, service_date=on,
                                total_cost=D(total), policy_scope_cost=D(total), basic_paid=basic, ref=ref)
            for ref, on, total, basic in specs]


def test_one_batch_with_december_and_the_next_years_claims_settles_the_years_in_order(yicheng):
    """The case above in one batch (a January file holding December's claims), the 2025 claim
    first in the file: 2024 is settled first, so its fund payment has already taken the
    zero-claim bonus away (cap 403 000 → 400 000) when the 2025 claim is settled — it pays
    400 000 outright, with no adjustment entry, as when the years come in two batches."""
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    specs = [(7, date(2025, 3, 1), "1200000", D("200000")), (8, date(2024, 12, 20), "12000", None)]
    big, december = services.claims_settle_batch(inputs=_inputs(p, specs), actor=f.clerk())
    assert (big.year, december.year) == (2025, 2024)
    assert december.basic_paid > 0
    assert big.critical_paid == D("400000.00")
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")
    assert LedgerEntry.objects.filter(person=p).count() == 0
    assert ledger(p, 2025).critical_paid == D("400000.00")
    assert scratch_is_clean(p, 2024) and scratch_is_clean(p, 2025)


def test_a_batch_over_two_years_reports_every_years_errors_and_writes_nothing(yicheng):
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    specs = [(3, date(2025, 3, 1), "1000", None), (4, date(2025, 3, 2), "-5", None),
             (5, date(2024, 12, 20), "1000", None), (6, date(2024, 12, 21), "-5", None)]
    with pytest.raises(services.BatchError) as caught:
        services.claims_settle_batch(inputs=_inputs(p, specs), actor=f.clerk())
    assert set(caught.value.by_ref) == {4, 6}
    positional = [services.ClaimInput(**{**vars(i), "ref": None}) for i in _inputs(p, specs)]
    positional[1].total_cost = positional[1].policy_scope_cost = D("1000")
    positional[2].service_date = date(2030, 1, 1)  # in the future
    with pytest.raises(services.BatchError) as caught:
        services.claims_settle_batch(inputs=positional, actor=f.clerk())
    assert set(caught.value.by_ref) == {2, 3}
    assert Claim.objects.count() == 0 and PersonYearLedger.objects.filter(person=p, claims_count__gt=0).count() == 0


def test_the_monthly_caps_refresh_resettles_what_the_old_cap_settled(yicheng):
    """Yicheng from 2025: zero-claim 2024 + normal 2025 payment ⇒ 2025 cap 400 000 + 3 000 =
    403 000.  A 2025 claim that reaches the cap (1 000 000 left after basic 200 000) pays
    critical 403 000.  A policy correction raises the zero-claim bonus to 5 000 from 2025: the
    monthly refresh (beat row ``members.enrollment_caps_refresh``) gives 405 000 to ``p`` and
    to ``q`` (no claims), and re-settles ``p``'s 2025 in the same transaction: one 补付 entry
    critical +2 000, the ledger at 405 000, the claim itself unchanged; ``q`` gets no ledger.
    The second run changes nothing."""
    from claims import tasks
    from yibao_site.services import policy_parameter_save

    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    q = f.insured(yicheng, year=2024)
    f.enrol(q, year=2025)
    big = f.settle(p, on=date(2025, 3, 1), total="1200000", scope="1200000", basic_paid=D("200000"))
    assert big.critical_paid == D("403000.00") and ledger(p, 2025).critical_paid == D("403000.00")
    policy_parameter_save(region=yicheng.city, key="critical.cap.zero_claim_bonus", value="5000",
                          effective_from=date(2025, 1, 1), source="更正")

    assert tasks.enrollment_caps_refresh(2025) == {"year": 2025, "changed": 2, "resettled": 1, "entries": 1}
    assert [e.critical_illness_cap for e in Enrollment.objects.filter(person__in=[p, q], year=2025)] == [
        D("405000.00"), D("405000.00")]
    entry = LedgerEntry.objects.get()
    assert (entry.person_id, entry.year, entry.kind, entry.critical, entry.basic) == (
        p.pk, 2025, EntryKind.ADJUSTMENT, D("2000.00"), D("0.00"))
    assert entry.cash_status == CashStatus.TO_PAY and "封顶线" in entry.reason and "补付2000" in entry.reason
    assert ledger(p, 2025).critical_paid == D("405000.00")
    assert Claim.objects.get(pk=big.pk).critical_paid == D("403000.00")
    assert not PersonYearLedger.objects.filter(person=q).exists()
    assert services.ledger_scratch_differences(year=2025, person_ids=[p.pk, q.pk]) == []

    assert tasks.enrollment_caps_refresh(2025) == {"year": 2025, "changed": 0, "resettled": 0, "entries": 0}
    assert LedgerEntry.objects.count() == 1 and ledger(p, 2025).critical_paid == D("405000.00")


def test_a_batch_over_two_years_checks_its_input_once(yicheng, monkeypatch):
    """The input check runs once for the whole batch, not again for each year's part: every
    row is checked once, and a bad row of the second year is reported once, at its row."""
    from claims.services import engine, settlement

    batches, rows = [], []
    check_batch, check_row = settlement._check_batch, engine.claim_input_check
    monkeypatch.setattr(settlement, "_check_batch", lambda inputs: batches.append(len(inputs)) or check_batch(inputs))
    monkeypatch.setattr(engine, "claim_input_check", lambda inp, **kw: rows.append(inp) or check_row(inp, **kw))
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    specs = [(None, date(2024, 12, 20), "1000", None), (None, date(2025, 1, 5), "1000", None),
             (None, date(2025, 1, 6), "-5", None)]
    with pytest.raises(services.BatchError) as caught:
        services.claims_settle_batch(inputs=_inputs(p, specs), actor=f.clerk())
    assert list(caught.value.by_ref) == [2]
    assert caught.value.by_ref[2].message_dict == {"total_cost": ["金额不能为负数。"],
                                                   "policy_scope_cost": ["金额不能为负数。"]}
    assert batches == [3] and len(rows) == 3
    batches.clear(), rows.clear()
    december, january = services.claims_settle_batch(inputs=_inputs(p, specs[:2]), actor=f.clerk())
    assert (december.year, january.year) == (2024, 2025)
    assert batches == [2] and len(rows) == 2  # before: [2, 1, 1] and 4 rows checked


def test_a_late_claim_refreshes_every_later_year_of_the_run(yicheng):
    """Yicheng from 2025: 2024 and 2025 without fund payment, each followed by a normal
    payment, make the 2026 cap 400 000 + 2 × 3 000 = 406 000 (2025: 403 000).  A 2026 claim
    that reaches it pays critical 406 000.  A December 2024 claim the fund pays, settled late,
    takes 2024 out of both counts: 2025 falls to 400 000 (no claims there) and 2026 to 403 000,
    whose claim is re-settled at once — one 追回 entry of critical −3 000 — not at the next
    monthly refresh."""
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    f.enrol(p, year=2026)
    caps = lambda: [e.critical_illness_cap for e in Enrollment.objects.filter(person=p).order_by("year")]  # noqa: E731
    assert caps()[1:] == [D("403000.00"), D("406000.00")]
    big = f.settle(p, on=date(2026, 3, 1), total="1200000", scope="1200000", basic_paid=D("200000"))
    assert big.critical_paid == D("406000.00")

    late = f.settle(p, on=date(2024, 12, 20), total="12000", scope="12000")
    assert late.basic_paid > 0
    assert caps()[1:] == [D("400000.00"), D("403000.00")]
    entry = LedgerEntry.objects.get()
    assert (entry.person_id, entry.year, entry.kind, entry.critical) == (p.pk, 2026, EntryKind.ADJUSTMENT,
                                                                          D("-3000.00"))
    assert ledger(p, 2026).critical_paid == D("403000.00")
    assert not PersonYearLedger.objects.filter(person=p, year=2025).exists()
    for year in (2024, 2025, 2026):
        assert services.ledger_scratch_differences(year=year, person_ids=[p.pk]) == []
