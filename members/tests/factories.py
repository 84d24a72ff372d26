"""Helpers for members tests: persons registered through the service."""
from __future__ import annotations

from datetime import date

from yibao_site.testing import make_id_number

from members import services
from members.testing import clerk

_seq = iter(range(1, 10_000))


def register(j, *, birth=date(1980, 5, 1), sex="M", township=0, village=0, name="张三", seq=None, county=None):
    """Register a person in ``j``'s village through the service; IDs are local and valid."""
    code = county or j.county.code
    return services.person_register(actor=clerk(),
        id_number=make_id_number(code, birth, seq if seq is not None else next(_seq), sex),
        name=name, village_code=j.village(township, village).code,
    )
