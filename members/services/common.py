"""What every members service shares: the error shape and who may call which use case.

Each write service calls :func:`yibao_site.actors.require_actor` first with one of the role
sets below — exactly the roles the API and the admin let do it (superusers pass any check;
township scoping stays in the views' querysets).  ``system=True`` marks a service a scheduled
job or a management command may run with a ``system_actor``.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError

from yibao_site.models import Role

#: Window business (参保登记, 缴费, 备案, 身份, 家庭共济): the window clerks.
CLERKS = frozenset({Role.WINDOW_CLERK})
#: Subsidy batches are built by window clerks and supervisors; only supervisors confirm.
BATCH_BUILDERS = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})
SUPERVISORS = frozenset({Role.SUPERVISOR})
#: The monthly personal-account credit run on demand (API ``account-credits``).
CREDIT_RUNNERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
#: A partner department's API account (assistance early warning) has no staff role: it records
#: its own determinations, which add an identity.
PARTNER_DEPARTMENT = ""
#: Identities: window clerks; supervisors and partner departments through early-warning
#: determinations; the monthly department list is uploaded by clerks or supervisors.
IDENTITY_WRITERS = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR, PARTNER_DEPARTMENT})
IDENTITY_LIST_APPLIERS = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})
#: Assistance entitlements are granted and revoked by the reviewers approving applications.
ENTITLEMENT_WRITERS = frozenset({Role.REVIEWER})
#: Claims keep enrolments in step with the fund's payments whenever they settle, reverse or
#: re-settle (window clerks, reviewers, finance, supervisors and claims' scheduled jobs).
CLAIMS_FOLLOWERS = frozenset({Role.WINDOW_CLERK, Role.REVIEWER, Role.FINANCE, Role.SUPERVISOR})


def error(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


def messages_of(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]
