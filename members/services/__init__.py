"""Writes of members state (DOMAIN.md §3–4), one module per sub-domain: persons and relatives,
enrolment, personal accounts and their family use, off-site registration, poverty identities,
assistance entitlements and subsidy batches.

Every public function is one use case: keyword-only arguments, the caller checked first
(``require_actor`` with the roles in :mod:`.common`), ``@transaction.atomic``, rows locked in a
fixed order (accounts by id, then enrolments), audited in the same transaction.  Errors are
``ValidationError`` dicts keyed by the API field names.  The ``*_build``/``*_check`` helpers are
the in-memory validation the importers run on whole batches (no queries inside).

This package re-exports every use case (and the reads and policy readers the importers and
tests used to find here), so ``from members.services import X`` keeps working.  Other apps use
:mod:`members.public`.
"""
from ..policy import (  # noqa: F401 - re-exported
    EnrolmentPolicy, cap_params, employee_amount_due, enrolment_policy, enrolment_snapshot, resident_premium,
    subsidy_params,
)
from ..selectors import allowed_relation, confirmed_subsidies, enrollment_histories  # noqa: F401
from .accounts import (  # noqa: F401
    CreditRunReport, account_close_payout, account_credit_month, account_credit_months, account_ensure, account_spend,
)
from .entitlements import entitlement_grant, entitlement_revoke  # noqa: F401
from .enrolment import (  # noqa: F401
    EMPLOYEE_STATUSES, SCHEMES, EnrollmentDraft, enrollment_build, enrollment_caps_changes, enrollment_caps_refresh,
    enrollment_caps_refresh_persons, enrollment_create, enrollment_fields, enrollment_record_fund_payments,
    enrollment_years_before_lock, student_lump_sum_create,
)
from .family import account_pay_relative_expense, account_pay_relative_premium  # noqa: F401
from .identities import (  # noqa: F401
    IdentityListReport, IdentityListRow, identity_add, identity_end, identity_list_apply, identity_validate,
)
from .offsite import offsite_register, offsite_revoke  # noqa: F401
from .persons import (  # noqa: F401
    PersonValues, person_build, person_check, person_register, person_update, relative_add, relative_remove,
)
from .subsidies import subsidy_batch_build, subsidy_batch_confirm  # noqa: F401
