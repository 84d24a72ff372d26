"""Test helpers: an approved certification without walking the whole workflow."""
from __future__ import annotations

from datetime import date

from yibao_site.models import Role, User

from .models import Certification, CertificationChannel, CertificationStatus
from .selectors import disease_in_force


def certify(person, code: str, valid_from: date, valid_to: date | None, *, diagnosis: str = "", actor=None):
    """Create an approved certification of ``code`` for ``person`` valid [valid_from, valid_to]."""
    disease = disease_in_force(person.village, code, valid_from)
    assert disease is not None, f"{code} is not in the catalogue of {person.village.code} on {valid_from}"
    actor = actor or User.objects.filter(role=Role.REVIEWER).first() or User.objects.create(
        username=f"certifier-{person.pk}", role=Role.REVIEWER)
    return Certification.objects.create(
        person=person, township=person.township, disease=disease,
        diagnosis=diagnosis or (disease.icd10[0].split("-")[0] if disease.icd10 else "Z00"),
        status=CertificationStatus.APPROVED, channel=CertificationChannel.HOSPITAL, filed_by=actor,
        decided_by=actor, valid_from=valid_from, valid_to=valid_to, hospital_supports=True)
