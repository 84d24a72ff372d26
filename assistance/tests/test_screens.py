"""Issue 15 items 3 and 12 on the review screens: one materials rule for the checklist, the
one-time notice and verification; 批准 only when it can succeed; the verifier's status."""
from __future__ import annotations

import pytest

from assistance import services
from assistance.admin import available_actions
from assistance.display import status_label
from assistance.models import MaterialType

from .test_workflow import ON, poor, verify_with_property  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_3_the_one_time_notice_offers_and_preticks_what_verification_will_demand(client, staff, poor, file_case):
    """Submitted with the 4 materials to submit; verification of 因病致贫 also needs the
    property check — the same rule lists it as missing, the reviewer's return form pre-ticks
    it, and verification without it is refused."""
    app = file_case(staff["agent"], poor, on=ON)
    assert services.required_materials(app) == (MaterialType.APPLICATION_FORM, MaterialType.ID_CARD,
                                                MaterialType.MEDICAL_BILLS, MaterialType.DIAGNOSIS)
    assert services.missing_materials(app) == [MaterialType.PROPERTY]
    client.force_login(staff["reviewer"])
    page = client.get(f"/admin/assistance/application/{app.pk}/act/return/").content.decode()
    assert 'value="property"' in page
    tag = page[page.index('value="property"') - 200:page.index('value="property"') + 60]
    assert "checked" in tag, tag
    with pytest.raises(Exception):
        services.application_verify(actor=staff["reviewer"], application=app, property_check_passed=True,
                                    property_evidence=None, property_note="x")


def test_12_approve_is_not_offered_after_the_means_test_failed(staff, poor, file_case, agent2):
    app = verify_with_property(agent2, file_case(staff["agent"], poor, on=ON))
    assert "approve" in available_actions(staff["reviewer2"], app)
    app.means_passed = False
    assert "approve" not in available_actions(staff["reviewer2"], app)
    assert "reject" in available_actions(staff["reviewer2"], app)


def test_12_verified_by_the_county_reviewer_is_not_called_township_verified(
        staff, poor, file_case, agent2, make_person, add_claim):
    from datetime import date

    by_agent = verify_with_property(agent2, file_case(staff["agent"], poor, on=ON))
    assert status_label(by_agent) == "乡镇已核实"
    other = make_person("王六")
    add_claim(other, date(2023, 6, 1), policy_scope_cost="40000", basic_paid="20000", out_of_pocket="31000")
    by_reviewer = verify_with_property(staff["reviewer"], file_case(staff["agent"], other, on=ON))
    assert status_label(by_reviewer) == "已核实(县级审核人员)"
