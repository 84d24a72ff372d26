"""Test helpers: persons, enrolments and identities through members.services; claims'
ledger rows written directly (the claims engineer keeps them right on every settlement)."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from claims.models import PersonYearLedger
from members import services as members
from yibao_site.testing import make_id_number

_seq = itertools.count(1)


def person(j, *, township=0, village=0, name="张三", county=None, birth=date(1970, 5, 1)):
    """Register a person in a village of jurisdiction ``j`` (township/village by index)."""
    code = county or j.county.code
    if isinstance(village, int):
        village_code = j.village(township, village).code
    else:
        village_code = village.code
    return members.person_register(id_number=make_id_number(code, birth, next(_seq)), name=name,
                                   village_code=village_code)


def resident(p, year):
    """Enrol ``p`` in the resident scheme for ``year``, paid in the collection period."""
    return members.enrollment_create(person=p, year=year, scheme="resident", paid_on=date(year - 1, 10, 8))


def employee(p, year):
    return members.enrollment_create(person=p, year=year, scheme="employee", employee_status="in_service",
                                     paid_on=date(year - 1, 12, 20), contribution_base=Decimal("5000"))


def identity(p, kind, valid_from=date(2020, 1, 1), valid_to=None, source="civil_affairs"):
    return members.identity_add(person=p, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)


def ledger(p, year, **months):
    """A ledger row with month columns: ``ledger(p, 2024, m01="3000.00", m03="5000.01")``."""
    values = {f"oop_{k}": Decimal(v) for k, v in months.items()}
    total = sum(values.values(), Decimal("0.00"))
    return PersonYearLedger.objects.create(person=p, year=year, out_of_pocket=total, **values)


def add_county(j, code="420303", name="张湾区"):
    """A second county with one township and one village under ``j``'s city."""
    from yibao_site.models import RegionLevel
    from yibao_site.services import region_save

    county = region_save(code=code, name=name, level=RegionLevel.COUNTY, parent_code=j.city.code)
    town = region_save(code=f"{code}001", name=f"{name}一镇", level=RegionLevel.TOWNSHIP, parent_code=code)
    village = region_save(code=f"{code}001001", name=f"{name}一村", level=RegionLevel.VILLAGE,
                          parent_code=town.code)
    return county, town, village
