"""django-import-export resources for the admin's *export* (imports go through importers.py).

IDs are masked for roles that do not need them whole (``selectors.display_id``); the export
runs on the admin's already-scoped queryset.
"""
from __future__ import annotations

from import_export import fields, resources

from .models import Enrollment, Identity, Person
from yibao_site.idnumbers import display_id, sees_full_ids


class _MaskingResource(resources.ModelResource):
    def __init__(self, **kwargs):
        super().__init__()
        request = kwargs.get("request")
        self.user = kwargs.get("user") or (request.user if request is not None else None)

    def _id(self, value: str) -> str:
        return display_id(self.user, value)


class PersonExportResource(_MaskingResource):
    id_number = fields.Field(attribute="id_number", column_name="id_number")
    village = fields.Field(attribute="village__code", column_name="village")
    township = fields.Field(attribute="township__code", column_name="township")

    class Meta:
        model = Person
        fields = ["id_number", "name", "sex", "birth_date", "village", "township", "phone", "household_no"]
        export_order = fields

    def dehydrate_id_number(self, person):
        return self._id(person.id_number)

    def dehydrate_phone(self, person):
        if sees_full_ids(self.user) or len(person.phone) < 11:
            return person.phone
        return person.phone[:3] + "****" + person.phone[-4:]


class EnrollmentExportResource(_MaskingResource):
    person = fields.Field(attribute="person__id_number", column_name="person")

    class Meta:
        model = Enrollment
        fields = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via",
                  "benefit_start", "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap",
                  "subsidy_amount", "active"]
        export_order = fields

    def dehydrate_person(self, enrollment):
        return self._id(enrollment.person.id_number)


class IdentityExportResource(_MaskingResource):
    person = fields.Field(attribute="person__id_number", column_name="person")

    class Meta:
        model = Identity
        fields = ["person", "kind", "valid_from", "valid_to", "source"]
        export_order = fields

    def dehydrate_person(self, identity):
        return self._id(identity.person.id_number)
