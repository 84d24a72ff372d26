"""The means test, the one-time retroactive assistance, the tilt catch-up and payouts, with
amounts computed by hand from the Shiyan pack (income.per_capita 2023 = 30 000, ratio 1.00;
category 2: no deductible, inpatient 70 %, chronic 50 %, shared cap 50 000; category 4: annual
deductible 5 000, 50 %/50 %; tilt above 5 000 at 50 %, cap 100 000)."""
from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from assistance import services
from assistance.models import ApplicationStatus as S, Payout
from members.models import AssistanceEntitlement

from .conftest import upload
from .test_workflow import verify_with_property
from members.testing import clerk

ON = date(2024, 3, 15)


def approve_determination(staff, agent2, person, file_case, on=ON):
    app = file_case(staff["agent"], person, on=on)
    app = verify_with_property(agent2, app)
    return services.application_approve(actor=staff["reviewer"], application=app, on=on)


class TestMeansTest:
    """Window: the 12 months before 2024-03-15 = 2023-03-15 … 2024-03-14; threshold =
    income.per_capita in force on 2023-01-01 (30 000) × 1.00 = 30 000.00."""

    @pytest.fixture
    def person(self, make_person, add_claim):
        person = make_person("王五")
        add_claim(person, date(2023, 3, 14), out_of_pocket="5000")  # the day before the window: not counted
        reversed_claim = add_claim(person, date(2023, 8, 1), out_of_pocket="9000", status="reversed")
        add_claim(person, date(2023, 8, 2), out_of_pocket="-9000", status="settled", reversal_of=reversed_claim)
        add_claim(person, date(2023, 5, 10), out_of_pocket="18000")
        return person

    def test_above_the_line_passes_and_is_approved(self, staff, agent2, person, add_claim, file_case):
        """18 000.00 + 12 000.01 = 30 000.01 > 30 000.00 (the 5 000 before the window and the
        reversed 9 000 with its reversal are excluded)."""
        add_claim(person, date(2024, 3, 14), out_of_pocket="12000.01")
        app = approve_determination(staff, agent2, person, file_case)
        assert (app.means_oop, app.means_threshold, app.means_passed) == (
            Decimal("30000.01"), Decimal("30000.00"), True)
        assert (app.means_window_from, app.means_window_to) == (date(2023, 3, 15), date(2024, 3, 14))
        assert app.status == S.APPROVED
        assert app.calculation["means_test"]["income_per_capita"] == "30000"

    def test_on_the_line_fails_and_approval_is_refused(self, staff, agent2, person, add_claim, file_case):
        """18 000.00 + 12 000.00 = 30 000.00, not above 30 000.00: submitted (the reviewer sees
        it), but never approved."""
        add_claim(person, date(2024, 3, 14), out_of_pocket="12000.00")
        app = file_case(staff["agent"], person, on=ON)
        assert app.means_passed is False and app.means_oop == Decimal("30000.00")
        app = verify_with_property(agent2, app)
        with pytest.raises(ValidationError) as err:
            services.application_approve(actor=staff["reviewer"], application=app, on=ON)
        assert "30000.00" in str(err.value)
        app.refresh_from_db()
        assert app.status == S.VERIFIED
        assert not AssistanceEntitlement.objects.filter(application_id=app.pk).exists()

    def test_a_claim_after_the_application_date_does_not_count(self, staff, agent2, person, add_claim, file_case):
        """18 000 in the window; 20 000 on 2024-03-15 (the application day) is outside it."""
        add_claim(person, date(2024, 3, 15), out_of_pocket="20000")
        app = file_case(staff["agent"], person, on=ON)
        assert app.means_oop == Decimal("18000.00") and app.means_passed is False


@pytest.fixture
def past_claims(settle_claim):
    """Real settled claims of a resident, basic insurance as the platform gave it and no
    critical-illness insurance; the person is no assistance object yet, so settlement paid no
    assistance (out-of-pocket = total − basic)."""
    def add(person):
        from chronic.testing import certify

        certify(person, "M00202", date(2023, 1, 1), None)  # the chronic claim's disease is certified
        # 2023, inside the 12 months before 2024-03-15:
        settle_claim(person, date(2023, 6, 1), policy_scope_cost="30000", basic_paid="18000",
                     total_cost="38000")                                                # base 12 000, oop 20 000
        settle_claim(person, date(2023, 8, 1), visit_type="chronic", policy_scope_cost="2000",
                     basic_paid="1300", disease="M00202")                                                 # base 700, oop 700
        settle_claim(person, date(2023, 7, 1), visit_type="outpatient", policy_scope_cost="500",
                     basic_paid="300")                                                  # not eligible
        settle_claim(person, date(2023, 9, 1), policy_scope_cost="8000", basic_paid="4000",
                     in_province=False, referred=False)                                 # out of province, unreferred
        # 2024:
        settle_claim(person, date(2024, 1, 10), policy_scope_cost="10000", basic_paid="6000",
                     total_cost="16000")                                                # base 4 000, oop 10 000
    return add


def test_retroactive_for_a_new_category_2_object_worked_example(staff, make_person, give_identity, past_claims,
                                                                agent2, file_case):
    """低保 from 2024-03-15 (category 2); window 2023-03-15 … 2024-03-14.
    2023: inpatient 12 000 × 70 % = 8 400.00; chronic 700 × 50 % = 350.00;
    2024: inpatient 4 000 × 70 % = 2 800.00.  Total 11 550.00 (outpatient and unreferred
    out-of-province care excluded)."""
    person = make_person("赵六")
    give_identity(person, "subsistence", date(2024, 3, 15))
    past_claims(person)
    on = date(2024, 4, 1)
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=on)
    assert (app.category, app.determined_on) == (2, date(2024, 3, 15))
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=on)
    assert app.amount == Decimal("11550.00")
    assert [line["paid"] for line in app.calculation["retroactive"]["lines"]] == ["8400.00", "350.00", "2800.00"]
    payout = services.payout_create(actor=staff["finance"], application=app, reference="ZF-001")
    assert payout.amount == Decimal("11550.00")
    with pytest.raises(ValidationError) as err:
        services.payout_create(actor=staff["finance"], application=app, reference="ZF-002")
    assert "不能重复支付" in str(err.value)
    assert Payout.objects.count() == 1


def test_retroactive_respects_the_shared_annual_cap_already_used(staff, make_person, give_identity, past_claims,
                                                                  settle_claim, agent2, file_case):
    """As above, plus a 2023-02-01 claim (before the window, same year) of a 特困 person then
    (category 1, 100 %): policy scope 95 000, basic 50 000 → settlement paid 45 000 of
    assistance.  2023 has 50 000 − 45 000 = 5 000 of cap left, so inpatient pays
    min(8 400, 5 000) = 5 000.00 and chronic 0.00; 2024 pays 2 800.00.  Total 7 800.00."""
    person = make_person("钱七")
    give_identity(person, "extreme_poverty", date(2023, 1, 1), date(2023, 2, 28))
    give_identity(person, "subsistence", date(2024, 3, 15))
    past_claims(person)
    early = settle_claim(person, date(2023, 2, 1), policy_scope_cost="95000", basic_paid="50000")
    assert early.assistance_paid == Decimal("45000.00")
    on = date(2024, 4, 1)
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=on)
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=on)
    assert app.amount == Decimal("7800.00")


def test_retroactive_after_an_approved_illness_poverty_determination_uses_category_4(
        staff, agent2, make_person, past_claims, file_case):
    """Determined 2024-03-15 (out-of-pocket 20 000 + 700 + 10 000 = 30 700 > 30 000).
    Category 4: 2023 inpatient (12 000 − 5 000) × 50 % = 3 500.00, chronic 700 × 50 % = 350.00;
    2024 inpatient 4 000 is under the new year's deductible → 0.00.  Total 3 850.00."""
    person = make_person("孙八")
    past_claims(person)
    determination = approve_determination(staff, agent2, person, file_case)
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=date(2024, 3, 20))
    assert app.basis_application == determination and app.category == 4
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=date(2024, 3, 20))
    assert app.amount == Decimal("3850.00")
    with pytest.raises(ValidationError):  # one-time: a second retroactive for the same determination
        services.application_create(actor=staff["agent"], person=person, kind="retroactive", on=date(2024, 3, 21))


def test_retroactive_refused_once_the_determination_has_expired(staff, agent2, make_person, past_claims, file_case):
    """Determined 2024-03-15, valid to 2025-03-14: filing on 2025-03-20 is refused; a case
    filed on 2025-03-10 cannot be approved on 2025-03-20 either."""
    person = make_person("周九")
    past_claims(person)
    approve_determination(staff, agent2, person, file_case)
    late = file_case(staff["agent"], person, kind="retroactive", basis="", on=date(2025, 3, 10))
    late = services.application_verify(actor=agent2, application=late)
    with pytest.raises(ValidationError) as err:
        services.application_approve(actor=staff["reviewer"], application=late, on=date(2025, 3, 20))
    assert "过期" in str(err.value)
    services.application_reject(actor=staff["reviewer"], application=late, reason="认定已过期")
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=person, kind="retroactive", on=date(2025, 3, 20))
    assert "过期" in str(err.value)


def test_retroactive_refused_for_a_person_who_is_no_object(staff, make_person):
    with pytest.raises(ValidationError):
        services.application_create(actor=staff["agent"], person=make_person(), kind="retroactive", on=ON)


def test_tilt_catch_up_and_entitlement_worked_example(staff, agent2, make_person, give_identity, settle_claim,
                                                     file_case):
    """低保 (category 2: 70 %, no deductible) with 2024 in-province referred claims:
    2024-02-01 scope 50 000 − basic 25 000 − critical 5 000 = 20 000 → assistance 14 000, left 6 000;
    2024-04-01 scope 12 000 − basic 6 000 = 6 000 → assistance 4 200, left 1 800;
    an unreferred out-of-province claim gets neither assistance nor tilt.
    Tilt: (6 000 + 1 800 − 5 000) × 50 % = 1 400.00, paid once, written on the ledger; the
    entitlement runs 2024-01-01 … 2024-12-31 so settlement applies the tilt to the rest of the year."""
    person = make_person("吴十")
    give_identity(person, "subsistence", date(2022, 1, 1))
    settle_claim(person, date(2024, 2, 1), policy_scope_cost="50000", basic_paid="25000", critical_paid="5000")
    settle_claim(person, date(2024, 4, 1), policy_scope_cost="12000", basic_paid="6000")
    settle_claim(person, date(2024, 5, 1), policy_scope_cost="9000", basic_paid="3000", in_province=False,
                 referred=False)
    on = date(2024, 6, 30)
    app = file_case(staff["agent"], person, kind="tilt", basis="", on=on)
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=on)
    assert app.amount == Decimal("1400.00")
    ent = AssistanceEntitlement.objects.get(application_id=app.pk)
    assert (ent.kind, ent.valid_from, ent.valid_to) == ("tilt", date(2024, 1, 1), date(2024, 12, 31))
    with pytest.raises(PermissionDenied):
        services.payout_create(actor=staff["reviewer"], application=app)
    services.payout_create(actor=staff["finance"], application=app)
    with pytest.raises(ValidationError):
        services.payout_create(actor=staff["finance"], application=app)
    with pytest.raises(ValidationError):  # one tilt per year
        services.application_create(actor=staff["agent"], person=person, kind="tilt", on=date(2024, 7, 1))


def test_tilt_refused_for_an_expired_object(staff, make_person, give_identity):
    person = make_person()
    give_identity(person, "subsistence", date(2022, 1, 1), date(2024, 1, 31))
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=person, kind="tilt", on=date(2024, 3, 1))
    assert "已过期" in str(err.value)


def test_tilt_refused_where_the_pack_has_no_tilt(yicheng, make_id_number_person_yicheng):
    person, agent = make_id_number_person_yicheng
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=agent, person=person, kind="tilt", on=ON)
    assert "kind" in err.value.message_dict


@pytest.fixture
def make_id_number_person_yicheng(yicheng, give_identity):
    from members.services import person_register
    from yibao_site.models import Role
    from yibao_site.services import staff_save
    from yibao_site.testing import make_id_number

    person = person_register(actor=clerk(), id_number=make_id_number(yicheng.county.code, date(1960, 1, 2), 7), name="峄城居民",
                             village_code=yicheng.village(0, 0).code)
    give_identity(person, "subsistence", date(2022, 1, 1))
    agent = staff_save(username="yc_agent", role=Role.TOWNSHIP_AGENT, township_code=yicheng.townships[0].code)
    return person, agent


def test_payout_of_a_zero_amount_is_refused(staff, agent2, make_person, give_identity, file_case):
    """A new object with no past claims: the retroactive amount is 0.00 and nothing is paid."""
    person = make_person()
    give_identity(person, "subsistence", date(2024, 3, 15))
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=date(2024, 4, 1))
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=date(2024, 4, 1))
    assert app.amount == Decimal("0.00")
    with pytest.raises(ValidationError):
        services.payout_create(actor=staff["finance"], application=app)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payouts_pay_exactly_once(shiyan, staff, agent2, make_person, give_identity, past_claims, file_case,
                                             settings, tmp_path):
    person = make_person()
    give_identity(person, "subsistence", date(2024, 3, 15))
    past_claims(person)
    on = date(2024, 4, 1)
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=on)
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=on)
    barrier = threading.Barrier(4)
    outcomes = []

    def pay():
        try:
            barrier.wait()
            services.payout_create(actor=staff["finance"], application=app)
            outcomes.append("paid")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["paid", "refused", "refused", "refused"]
    assert Payout.objects.filter(application=app).count() == 1


def test_material_upload_checks_type_by_content_and_size(staff, make_person, settings):
    from .conftest import JPEG, PNG

    app = services.application_create(actor=staff["agent"], person=make_person(), kind="determination",
                                      basis="illness_poverty", on=ON)
    ok = services.material_add(actor=staff["agent"], application=app, material_type="id_card",
                               upload=upload("身份证.JPG", JPEG))
    assert (ok.content_type, ok.extension) == ("image/jpeg", ".jpg")
    assert ok.file.name.startswith(f"assistance/{app.pk}/") and "身份证" not in ok.file.name
    services.material_add(actor=staff["agent"], application=app, material_type="id_card", upload=upload("b.png", PNG))
    bad = [upload("病历.pdf", b"MZ\x90\x00 not a pdf"), upload("x.exe", PNG), upload("x.pdf", PNG),
           upload("empty.pdf", b"")]
    for item in bad:
        with pytest.raises(ValidationError) as err:
            services.material_add(actor=staff["agent"], application=app, material_type="id_card", upload=item)
        assert "file" in err.value.message_dict
    settings.ASSISTANCE_MATERIAL_MAX_BYTES = 100
    with pytest.raises(ValidationError) as err:
        services.material_add(actor=staff["agent"], application=app, material_type="id_card",
                              upload=upload("big.pdf", b"%PDF-" + b"0" * 200))
    assert "过大" in str(err.value)
    assert app.materials.count() == 2
