"""Demo data of chronic diseases: certifications decided by the designated hospitals for a
share of the enrolled persons (so the demo's chronic claims name certified diseases), and a
few open cases in the first township for the agent and the reviewers.  Runs before claims;
a second run changes nothing."""
from __future__ import annotations

from datetime import date

from members.models import Enrollment, Person
from yibao_site.audit import bulk_create_audited

from .models import Certification, CertificationChannel, CertificationStatus
from .selectors import catalogue_in_force

CERTIFIED_SHARE = 0.15  # of enrolled persons (demo shape, not a policy number)
DEMO_NOTE = "演示数据"


def seed(ctx) -> None:
    log = getattr(ctx, "log", print)
    if Certification.objects.filter(note=DEMO_NOTE).exists():
        log("  chronic: demo certifications exist")
        return
    rng, today = ctx.rng, ctx.today
    reviewer = ctx.staff.get("demo_reviewer") or ctx.staff.get("reviewer")
    if reviewer is None:
        return
    start = date(today.year - 1, 1, 1)
    persons = list(Enrollment.objects.filter(year=today.year, active=True,
                                             person__township__in=ctx.jurisdiction.townships)
                   .select_related("person__village", "person__township").values_list("person", flat=True)
                   .distinct().order_by("person"))
    chosen = [pid for pid in persons if rng.random() < CERTIFIED_SHARE]
    people = Person.objects.filter(pk__in=chosen).select_related("village", "township").order_by("pk")
    catalogues: dict[int, list] = {}
    rows = []
    for person in people:
        diseases = catalogues.get(person.village_id)
        if diseases is None:  # one catalogue look-up per village (not per person)
            diseases = catalogues[person.village_id] = catalogue_in_force(person.village, start)
        if not diseases:
            continue
        disease = rng.choice(diseases)
        diagnosis = disease.icd10[0].split("-")[0] if disease.icd10 else "Z00"
        rows.append(Certification(
            person=person, township=person.township, disease=disease, diagnosis=diagnosis,
            status=CertificationStatus.APPROVED, channel=CertificationChannel.HOSPITAL, filed_by=reviewer,
            owner=reviewer, decided_by=reviewer, hospital_supports=True, hospital_opinion="符合认定标准",
            valid_from=start, valid_to=date(today.year, 12, 31), note=DEMO_NOTE))
    bulk_create_audited(rows, Certification, actor=reviewer, reason=DEMO_NOTE)
    log(f"  chronic: {len(rows)} certified persons")
