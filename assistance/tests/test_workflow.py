"""The review workflow: every transition and every refusal (DOMAIN.md §6)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assistance import services
from assistance.models import ApplicationEvent, ApplicationStatus as S, MaterialType, Payout
from members.models import AssistanceEntitlement

from .conftest import upload

ON = date(2024, 3, 15)  # a Friday


@pytest.fixture
def poor(make_person, add_claim):
    """A resident of township 1 with 31 000.00 out-of-pocket in the 12 months before ON."""
    person = make_person("李四")
    add_claim(person, date(2023, 6, 1), policy_scope_cost="40000", basic_paid="20000", out_of_pocket="31000")
    return person


def verify_with_property(actor, app):
    evidence = services.material_add(actor=actor, application=app, material_type=MaterialType.PROPERTY,
                                     upload=upload("财产核查.pdf"))
    return services.application_verify(actor=actor, application=app, note="入户核实属实",
                                       property_check_passed=True, property_evidence=evidence,
                                       property_note="民政部门核查:家庭财产符合规定")


def test_determination_walks_draft_submitted_verified_approved_and_grants_the_entitlement(
        staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    assert app.status == S.SUBMITTED and app.owner == staff["agent"] and app.category == 4
    assert app.means_passed is True and app.means_oop == Decimal("31000.00")
    # 15 working days after Friday 2024-03-15 → Friday 2024-04-05 (no holidays in the calendar)
    assert app.deadline == date(2024, 4, 5)
    app = verify_with_property(agent2, app)
    assert app.status == S.VERIFIED and app.verified_by == agent2
    app = services.application_approve(actor=staff["reviewer"], application=app, reason="符合条件", on=ON)
    assert app.status == S.APPROVED
    # valid 12 months from the determination date: 2024-03-15 … 2025-03-14
    assert (app.valid_from, app.valid_to) == (date(2024, 3, 15), date(2025, 3, 14))
    ent = AssistanceEntitlement.objects.get(application_id=app.pk)
    assert (ent.kind, ent.category, ent.valid_from, ent.valid_to) == ("determination", 4, app.valid_from, app.valid_to)
    trail = list(app.events.exclude(action="material").values_list("action", "from_status", "to_status", "actor__username"))
    assert trail == [("create", "", "draft", "agent"), ("submit", "draft", "submitted", "agent"),
                     ("verify", "submitted", "verified", "agent2"), ("approve", "verified", "approved", "reviewer")]
    assert all(e.at for e in app.events.all())


def test_return_lists_all_missing_materials_and_resubmission_needs_every_one(staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    notice = services.application_return(
        actor=staff["reviewer"], application=app, reason="材料不全",
        missing=[{"type": "income", "note": "2023年家庭收入证明"}, {"type": "household_register"}])
    app.refresh_from_db()
    assert app.status == S.RETURNED and notice.number.startswith("YCXGZ-")
    assert [i["label"] for i in notice.missing_items()] == ["家庭收入证明", "户口簿"]
    services.material_add(actor=staff["agent"], application=app, material_type="income", upload=upload())
    with pytest.raises(ValidationError) as err:
        services.application_resubmit(actor=staff["agent"], application=app, on=ON)
    assert "户口簿" in str(err.value)
    services.material_add(actor=staff["agent"], application=app, material_type="household_register", upload=upload())
    app = services.application_resubmit(actor=staff["agent"], application=app, note="已补齐", on=date(2024, 3, 18))
    assert app.status == S.RESUBMITTED and app.deadline == date(2024, 4, 8)
    notice.refresh_from_db()
    assert notice.resolved_at is not None
    app = verify_with_property(agent2, app)
    app = services.application_approve(actor=staff["reviewer2"], application=app, on=ON)
    assert app.status == S.APPROVED


def test_return_without_the_missing_list_is_refused(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    for missing in ([], None, [{"type": "nonsense"}], [{"type": "other"}]):
        with pytest.raises(ValidationError) as err:
            services.application_return(actor=staff["reviewer"], application=app, missing=missing)
        assert "missing" in err.value.message_dict
    app.refresh_from_db()
    assert app.status == S.SUBMITTED and not app.notices.exists()


def test_reject_needs_a_reason_and_records_it(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    with pytest.raises(ValidationError) as err:
        services.application_reject(actor=staff["reviewer"], application=app, reason="  ")
    assert "reason" in err.value.message_dict
    app = services.application_reject(actor=staff["reviewer"], application=app, reason="家庭财产超标")
    assert app.status == S.REJECTED and app.decision_reason == "家庭财产超标"
    assert app.events.last().reason == "家庭财产超标"


def test_window_clerk_files_but_cannot_reject_nor_return_own_filing(staff, poor, file_case):
    app = file_case(staff["clerk"], poor, on=ON)
    assert app.channel == "window" and app.owner == staff["clerk"]
    with pytest.raises(PermissionDenied):
        services.application_reject(actor=staff["clerk"], application=app, reason="不符合")
    with pytest.raises(PermissionDenied):  # nor return their own filing
        services.application_return(actor=staff["clerk"], application=app, missing=["income"])


def test_window_clerk_returns_an_agents_case_at_the_window(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    notice = services.application_return(actor=staff["clerk"], application=app, missing=["income"])
    assert notice.issued_by == staff["clerk"]


def test_wrong_role_is_refused_at_every_step(staff, agent2, poor, file_case):
    for role in ("reviewer", "finance", "supervisor"):
        with pytest.raises(PermissionDenied):
            services.application_create(actor=staff[role], person=poor, kind="determination",
                                        basis="illness_poverty", on=ON)
    app = file_case(staff["agent"], poor, on=ON)
    for role in ("finance", "supervisor", "clerk"):
        with pytest.raises(PermissionDenied):
            services.application_verify(actor=staff[role], application=app)
    app = verify_with_property(agent2, app)
    for actor in (staff["clerk"], staff["finance"], staff["supervisor"], agent2):
        with pytest.raises(PermissionDenied):
            services.application_approve(actor=actor, application=app, on=ON)
        with pytest.raises(PermissionDenied):
            services.application_reject(actor=actor, application=app, reason="x")
    app.refresh_from_db()
    assert app.status == S.VERIFIED


def test_agent_of_another_township_can_neither_file_nor_verify_nor_see(staff, poor, file_case):
    with pytest.raises(PermissionDenied):
        services.application_create(actor=staff["agent_b"], person=poor, kind="determination",
                                    basis="illness_poverty", on=ON)
    app = file_case(staff["agent"], poor, on=ON)
    with pytest.raises(PermissionDenied):
        services.application_verify(actor=staff["agent_b"], application=app)
    with pytest.raises(PermissionDenied):
        services.material_add(actor=staff["agent_b"], application=app, material_type="other", upload=upload())
    from assistance.selectors import applications_for
    assert not applications_for(staff["agent_b"]).filter(pk=app.pk).exists()
    assert applications_for(staff["agent"]).filter(pk=app.pk).exists()


def test_nobody_verifies_or_approves_their_own_filing_superusers_included(staff, poor, file_case, django_user_model):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "Yb-test-pass-2026")
    app = file_case(root, poor, on=ON)
    with pytest.raises(PermissionDenied):
        services.application_verify(actor=root, application=app)
    app = verify_with_property(staff["reviewer"], app)
    with pytest.raises(PermissionDenied):
        services.application_approve(actor=root, application=app, on=ON)
    with pytest.raises(PermissionDenied):
        services.application_reject(actor=root, application=app, reason="自审")
    app = services.application_approve(actor=staff["reviewer2"], application=app, on=ON)
    assert app.status == S.APPROVED


def test_filing_agent_cannot_verify_own_case_but_reviewer_may(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    with pytest.raises(PermissionDenied):
        services.application_verify(actor=staff["agent"], application=app)
    app = verify_with_property(staff["reviewer"], app)
    assert app.verified_by == staff["reviewer"]


def test_illness_poverty_verification_requires_the_property_check_with_evidence(staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    with pytest.raises(ValidationError) as err:
        services.application_verify(actor=agent2, application=app, note="ok")
    assert set(err.value.message_dict) == {"property_check_passed", "property_evidence", "property_note"}
    wrong = app.materials.get(material_type="id_card")
    with pytest.raises(ValidationError) as err:
        services.application_verify(actor=agent2, application=app, property_check_passed=True,
                                    property_evidence=wrong, property_note="核查")
    assert "property_evidence" in err.value.message_dict


def test_failed_property_check_blocks_approval(staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    evidence = services.material_add(actor=agent2, application=app, material_type="property", upload=upload())
    app = services.application_verify(actor=agent2, application=app, property_check_passed=False,
                                       property_evidence=evidence, property_note="有商品房两套")
    with pytest.raises(ValidationError):
        services.application_approve(actor=staff["reviewer"], application=app, on=ON)
    assert services.application_reject(actor=staff["reviewer"], application=app, reason="财产超标").status == S.REJECTED


def test_submission_lists_every_missing_required_material(staff, poor):
    app = services.application_create(actor=staff["agent"], person=poor, kind="determination",
                                      basis="illness_poverty", on=ON)
    services.material_add(actor=staff["agent"], application=app, material_type="id_card", upload=upload())
    with pytest.raises(ValidationError) as err:
        services.application_submit(actor=staff["agent"], application=app, on=ON)
    text = str(err.value)
    assert "救助申请书" in text and "医疗费用票据及结算单" in text and "诊断证明或出院小结" in text


def test_transitions_from_the_wrong_status_are_refused(staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, submit=False, on=ON)
    with pytest.raises(ValidationError):
        services.application_verify(actor=agent2, application=app)
    with pytest.raises(ValidationError):
        services.application_resubmit(actor=staff["agent"], application=app)
    app = services.application_submit(actor=staff["agent"], application=app, on=ON)
    with pytest.raises(ValidationError):
        services.application_approve(actor=staff["reviewer"], application=app, on=ON)  # not verified yet
    with pytest.raises(ValidationError):
        services.application_submit(actor=staff["agent"], application=app, on=ON)
    services.application_reject(actor=staff["reviewer"], application=app, reason="不符合")
    with pytest.raises(ValidationError):
        services.application_return(actor=staff["reviewer"], application=app, missing=["income"])
    with pytest.raises(ValidationError):
        services.material_add(actor=staff["agent"], application=app, material_type="income", upload=upload())


def test_agent_verifier_cannot_return_a_verified_case_but_reviewer_can(staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    app = verify_with_property(agent2, app)
    with pytest.raises(PermissionDenied):
        services.application_return(actor=agent2, application=app, missing=["income"])
    services.application_return(actor=staff["reviewer"], application=app, missing=["income"])


def test_person_already_in_categories_1_to_3_cannot_be_determined_illness_poor(staff, poor, give_identity):
    give_identity(poor, "subsistence", date(2023, 1, 1))
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=poor, kind="determination",
                                    basis="illness_poverty", on=ON)
    assert "自动享受" in str(err.value)


def test_marginal_person_is_not_illness_poor_but_may_be_determined_category_3(staff, poor, give_identity, file_case,
                                                                               agent2):
    give_identity(poor, "marginal", date(2023, 1, 1), date(2024, 12, 31))
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=poor, kind="determination",
                                    basis="illness_poverty", on=ON)
    assert "前三类" in str(err.value)
    app = file_case(staff["agent"], poor, basis="marginal", on=ON)
    assert app.category == 3
    app = services.application_verify(actor=agent2, application=app, note="核实")
    app = services.application_approve(actor=staff["reviewer"], application=app, on=ON)
    # 12 months would end 2025-03-14; the marginal identity ends 2024-12-31 and bounds it
    assert app.valid_to == date(2024, 12, 31)


def test_category_3_determination_refused_when_the_identity_has_expired(staff, poor, give_identity):
    give_identity(poor, "monitored", date(2022, 1, 1), date(2023, 12, 31))
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=poor, kind="determination",
                                    basis="monitored", on=ON)
    assert "已过期" in str(err.value)


def test_category_given_by_the_caller_must_agree_with_the_basis(staff, poor):
    with pytest.raises(ValidationError) as err:
        services.application_create(actor=staff["agent"], person=poor, kind="determination",
                                    basis="illness_poverty", category=3, on=ON)
    assert "category" in err.value.message_dict


def test_a_second_live_determination_for_the_same_person_is_refused(staff, poor, file_case):
    file_case(staff["agent"], poor, on=ON)
    with pytest.raises(ValidationError):
        services.application_create(actor=staff["clerk"], person=poor, kind="determination",
                                    basis="illness_poverty", on=ON)


def test_events_record_who_when_from_to_why_for_every_transition(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    services.application_return(actor=staff["reviewer"], application=app, missing=["income"], reason="缺收入证明")
    event = ApplicationEvent.objects.filter(application=app, action="return").get()
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        staff["reviewer"], "submitted", "returned", "缺收入证明")
    assert event.data["missing"] == [{"type": "income", "note": ""}]
    assert app.history.first().history_user == staff["reviewer"]


def test_payout_is_refused_for_determinations_and_unapproved_cases(staff, poor, file_case):
    app = file_case(staff["agent"], poor, on=ON)
    with pytest.raises(ValidationError):
        services.payout_create(actor=staff["finance"], application=app)
    assert not Payout.objects.exists()
