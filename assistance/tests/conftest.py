"""Fixtures of the assistance tests: persons, identities, claims, uploads, a second agent."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

_seq = itertools.count(1)


def upload(name="材料.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def agent2(shiyan, staff):
    """A second agent of township 1 (verifies what ``agent`` files)."""
    from yibao_site.models import Role
    from yibao_site.services import staff_save

    return staff_save(username="agent2", role=Role.TOWNSHIP_AGENT, township_code=shiyan.townships[0].code,
                      password="Yb-test-pass-2026")


@pytest.fixture
def make_person(shiyan):
    from members.services import person_register
    from yibao_site.testing import make_id_number

    def make(name="张三", township=0, village=0, birth=date(1970, 5, 6)):
        seq = next(_seq)
        return person_register(id_number=make_id_number(shiyan.county.code, birth, seq),
                               name=name, village_code=shiyan.village(township, village).code)

    return make


@pytest.fixture
def give_identity():
    from members.services import identity_add

    def give(person, kind, valid_from, valid_to=None, source="civil_affairs"):
        return identity_add(person=person, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)

    return give


@pytest.fixture
def add_claim():
    """A settled claim with the given amounts (the claims app's settlement is not under test)."""
    from claims.models import Claim

    def add(person, service_date, *, visit_type="inpatient", policy_scope_cost="0", basic_paid="0",
            critical_paid="0", assistance_paid="0", second_round_paid="0", out_of_pocket="0",
            total_cost=None, in_province=True, referred=True, status="settled", reversal_of=None):
        scope = Decimal(policy_scope_cost)
        return Claim.objects.create(
            person=person, year=service_date.year, scheme="resident", visit_type=visit_type, hospital_level=2,
            in_province=in_province, referred=referred, service_date=service_date,
            total_cost=Decimal(total_cost) if total_cost is not None else max(scope, Decimal(out_of_pocket)),
            policy_scope_cost=scope, basic_paid=Decimal(basic_paid), critical_paid=Decimal(critical_paid),
            assistance_paid=Decimal(assistance_paid), second_round_paid=Decimal(second_round_paid),
            out_of_pocket=Decimal(out_of_pocket), status=status, reversal_of=reversal_of)

    return add


@pytest.fixture
def settle_claim():
    """Settle a real claim through the claims app (the person is enrolled as a resident for the
    year if not yet, paid in the collection period): basic and critical insurance as the
    hospital platform gives them, assistance computed by settlement."""
    from claims.services import claim_settle
    from claims.tests import factories as claims_factories
    from members.models import Enrollment
    from members.services import enrollment_create

    def settle(person, service_date, *, visit_type="inpatient", policy_scope_cost="0", basic_paid="0",
               critical_paid="0", total_cost=None, in_province=True, referred=True, disease=""):
        year = service_date.year
        if not Enrollment.objects.filter(person=person, year=year).exists():
            enrollment_create(person=person, year=year, scheme="resident", paid_on=date(year - 1, 10, 1))
        scope = Decimal(policy_scope_cost)
        return claim_settle(person=person, visit_type=visit_type, hospital_level=2, service_date=service_date,
                            total_cost=Decimal(total_cost) if total_cost is not None else scope,
                            policy_scope_cost=scope, in_province=in_province, referred=referred,
                            basic_paid=Decimal(basic_paid), critical_paid=Decimal(critical_paid), disease=disease,
                            actor=claims_factories.clerk())

    return settle


@pytest.fixture
def file_case():
    """File an application with every required material, and optionally submit it."""
    from assistance import services

    def file(actor, person, kind="determination", basis="illness_poverty", *, submit=True, on=None, extra=()):
        app = services.application_create(actor=actor, person=person, kind=kind, basis=basis, on=on)
        for material_type in (*services.required_materials(app), *extra):
            services.material_add(actor=actor, application=app, material_type=material_type, upload=upload())
        if submit:
            app = services.application_submit(actor=actor, application=app, on=on)
        return app

    return file
