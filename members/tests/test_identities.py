from datetime import date

import pytest
from django.core.exceptions import ValidationError

from members import services
from members.models import AssistanceEntitlement, Identity, IdentityImport
from members.services import IdentityListRow

from .factories import register
from members.testing import clerk, reviewer


def test_identity_add_and_overlap_refused(shiyan, staff):
    p = register(shiyan)
    ident = services.identity_add(person=p, kind="subsistence", valid_from=date(2024, 1, 1), source="civil_affairs",
                                  actor=staff["clerk"])
    assert ident.valid_to is None and ident.history.get().history_user == staff["clerk"]
    with pytest.raises(ValidationError) as exc:
        services.identity_add(actor=clerk(), person=p, kind="subsistence", valid_from=date(2025, 1, 1), source="bureau")
    assert "重叠" in exc.value.message_dict["valid_from"][0]
    services.identity_end(actor=clerk(), identity=ident, valid_to=date(2024, 12, 31))
    services.identity_add(actor=clerk(), person=p, kind="subsistence", valid_from=date(2025, 1, 1), source="bureau")


@pytest.mark.parametrize("kw,field", [
    ({"kind": "rich"}, "kind"),
    ({"source": "police"}, "source"),
    ({"valid_to": date(2023, 1, 1)}, "valid_to"),
])
def test_identity_fields_validated(shiyan, kw, field):
    args = {"kind": "orphan", "valid_from": date(2024, 1, 1), "source": "civil_affairs", **kw}
    with pytest.raises(ValidationError) as exc:
        services.identity_add(person=register(shiyan), actor=clerk(), **args)
    assert field in exc.value.message_dict


def test_entitlement_grant_is_idempotent_per_application(shiyan):
    p = register(shiyan)
    a = services.entitlement_grant(actor=reviewer(), person=p, kind="determination", category=4, valid_from=date(2025, 3, 1),
                                   valid_to=date(2026, 2, 28), application_id=17)
    b = services.entitlement_grant(actor=reviewer(), person=p, kind="determination", category=4, valid_from=date(2025, 3, 1),
                                   valid_to=date(2026, 2, 28), application_id=17)
    assert a.pk == b.pk and AssistanceEntitlement.objects.count() == 1
    with pytest.raises(ValidationError):
        services.entitlement_grant(actor=reviewer(), person=p, kind="determination", category=3, valid_from=date(2025, 3, 1),
                                   valid_to=date(2026, 2, 28), application_id=17)
    with pytest.raises(ValidationError) as exc:
        services.entitlement_grant(actor=reviewer(), person=p, kind="determination", category=None, valid_from=date(2025, 3, 1),
                                   valid_to=date(2026, 2, 28))
    assert "category" in exc.value.message_dict
    tilt = services.entitlement_grant(actor=reviewer(), person=p, kind="tilt", category=None, valid_from=date(2025, 3, 1),
                                      valid_to=date(2025, 12, 31), application_id=18)
    services.entitlement_revoke(actor=reviewer(), entitlement=tilt, on=date(2025, 6, 1))
    tilt.refresh_from_db()
    assert tilt.revoked_on == date(2025, 6, 1)


def test_monthly_list_reports_new_changed_ended_and_second_apply_changes_nothing(shiyan):
    a, b, c, d = (register(shiyan) for _ in range(4))
    services.identity_add(actor=clerk(), person=a, kind="subsistence", valid_from=date(2024, 1, 1), source="civil_affairs")
    services.identity_add(actor=clerk(), person=b, kind="subsistence", valid_from=date(2024, 1, 1), source="civil_affairs")
    services.identity_add(actor=clerk(), person=c, kind="extreme_poverty", valid_from=date(2023, 5, 1), source="civil_affairs")
    rows = [
        IdentityListRow(2, a.id_number, "subsistence", date(2024, 1, 1)),                  # unchanged
        IdentityListRow(3, b.id_number, "subsistence", date(2024, 1, 1), date(2025, 6, 30)),  # changed
        IdentityListRow(4, d.id_number, "orphan", date(2025, 2, 1)),                       # new
    ]                                                                                    # c: ended
    report = services.identity_list_apply(actor=clerk(), source="civil_affairs", as_of=date(2025, 3, 1), rows=rows)
    assert [r["id_number"] for r in report.new] == [d.id_number]
    assert [r["id_number"] for r in report.changed] == [b.id_number]
    assert [r["id_number"] for r in report.ended] == [c.id_number]
    assert report.unchanged == 1
    assert Identity.objects.get(person=c).valid_to == date(2025, 2, 28)
    assert Identity.objects.get(person=b).valid_to == date(2025, 6, 30)
    assert IdentityImport.objects.get().new_count == 1
    again = services.identity_list_apply(actor=clerk(), source="civil_affairs", as_of=date(2025, 3, 1), rows=rows)
    assert (again.new, again.changed, again.ended, again.unchanged) == ([], [], [], 3)


def test_monthly_list_leaves_other_sources_alone(shiyan):
    p = register(shiyan)
    services.identity_add(actor=clerk(), person=p, kind="monitored", valid_from=date(2024, 1, 1), source="rural_revitalization")
    report = services.identity_list_apply(actor=clerk(), source="civil_affairs", as_of=date(2025, 3, 1), rows=[])
    assert report.ended == [] and Identity.objects.get().valid_to is None


def test_monthly_list_with_a_bad_row_writes_nothing(shiyan):
    a = register(shiyan)
    rows = [
        IdentityListRow(2, a.id_number, "subsistence", date(2024, 1, 1)),
        IdentityListRow(3, "420302199001010000", "subsistence", date(2024, 1, 1)),
        IdentityListRow(4, a.id_number, "nobody", date(2024, 1, 1)),
    ]
    report = services.identity_list_apply(actor=clerk(), source="civil_affairs", as_of=date(2025, 3, 1), rows=rows)
    assert sorted(report.errors) == [3, 4]
    assert Identity.objects.count() == 0 and IdentityImport.objects.count() == 0


def test_monthly_list_dry_run_reports_without_writing(shiyan):
    a = register(shiyan)
    report = services.identity_list_apply(actor=clerk(), source="civil_affairs", as_of=date(2025, 3, 1), dry_run=True,
                                          rows=[IdentityListRow(2, a.id_number, "orphan", date(2025, 1, 1))])
    assert len(report.new) == 1 and Identity.objects.count() == 0
