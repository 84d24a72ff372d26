"""Test data for claims, set up through the members services (never raw ``objects.create``)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from members import services as members
from yibao_site.models import Role, User
from yibao_site.testing import make_id_number

from claims import services

_seq = iter(range(1, 100_000))


def person(j, *, township=0, village=0, birth=date(1970, 3, 1), name="李四"):
    return members.person_register(
        id_number=make_id_number(j.county.code, birth, next(_seq)), name=name,
        village_code=j.village(township, village).code)


def enrol(p, *, year=2024, scheme="resident", status="", paid_on=None, base=None):
    """Enrol ``p``; paid in the collection period by default (benefits all year)."""
    if scheme == "employee" and status in ("in_service", "flexible") and base is None:
        base = Decimal("6000")
    return members.enrollment_create(person=p, year=year, scheme=scheme, paid_on=paid_on or date(year - 1, 10, 8),
                                     employee_status=status, contribution_base=base)


def insured(j, *, year=2024, scheme="resident", status="", **kw):
    p = person(j, **kw)
    enrol(p, year=year, scheme=scheme, status=status)
    return p


def identity(p, kind, *, valid_from=date(2023, 1, 1), valid_to=None, source="civil_affairs"):
    return members.identity_add(person=p, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)


def grant(p, kind, *, category=None, valid_from=date(2024, 1, 1), valid_to=date(2024, 12, 31)):
    return members.entitlement_grant(person=p, kind=kind, category=category, valid_from=valid_from, valid_to=valid_to)


def staff_user(role: str = Role.WINDOW_CLERK):
    """The test's member of staff of ``role`` (a window clerk settles and reverses, a reviewer
    re-settles, finance records fund entries): every claims write service names its caller."""
    user, _created = User.objects.get_or_create(username=f"claims-{role}", defaults={"role": role})
    return user


def clerk():
    return staff_user(Role.WINDOW_CLERK)


def reviewer():
    return staff_user(Role.REVIEWER)


def finance():
    return staff_user(Role.FINANCE)


def settle(p, *, visit_type="inpatient", level=2, on=date(2024, 6, 1), total="0", scope=None, **kw):
    scope = total if scope is None else scope
    kw.setdefault("actor", clerk())
    return services.claim_settle(person=p, visit_type=visit_type, hospital_level=level, service_date=on,
                                 total_cost=Decimal(str(total)), policy_scope_cost=Decimal(str(scope)), **kw)
