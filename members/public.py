"""What other apps may use of members, besides ``members.models``.

Other apps (claims, assistance, chronic, …) import only this module and ``members.models``;
import-linter (``.importlinter``) refuses any other import of members' internals.
"""
from .serializers import MaskedIdMixin, ScopedPersonField
from .services import (
    enrollment_caps_changes, enrollment_caps_refresh_persons, enrollment_record_fund_payments, entitlement_grant,
    identity_add,
)

__all__ = [
    "MaskedIdMixin", "ScopedPersonField",
    "enrollment_caps_changes", "enrollment_caps_refresh_persons", "enrollment_record_fund_payments",
    "entitlement_grant", "identity_add",
]
