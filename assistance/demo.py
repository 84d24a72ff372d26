"""Demo data of the eligibility review for ``seed_demo``: applications in every state, filed by
township agents and at the window, through the services (materials, returns with notices,
verification, approvals with entitlements, rejections, an overdue case, payouts) and the
national-day holidays of the current year.  A second run changes nothing.
"""
from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum

from claims.models import ClaimStatus
from members.models import Identity, Person
from yibao_site.models import Role
from yibao_site.services import staff_save

from . import services
from .models import Application, ApplicationKind, Holiday

MARK = "【演示】"
PDF = b"%PDF-1.4\n% demo material\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _user(ctx, role: str, username: str, township_code: str | None = None):
    role = str(role.value if hasattr(role, "value") else role)
    for key in (role, f"demo_{role}", username):
        user = ctx.staff.get(key) if isinstance(ctx.staff, dict) else None
        if user is not None and (township_code is None or user.region and user.region.code == township_code):
            return user
    return staff_save(username=username, role=role, township_code=township_code)


def _pdf(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def _file(actor, person, kind, basis, on, extra=()):
    app = services.application_create(actor=actor, person=person, kind=kind, basis=basis, on=on,
                                      note=f"{MARK}{person.name} 的{ApplicationKind(kind).label}申请")
    for material_type in (*services.required_materials(app), *extra):
        services.material_add(actor=actor, application=app, material_type=material_type,
                              upload=_pdf(f"{material_type}.pdf"))
    return services.application_submit(actor=actor, application=app, on=on)


def _verify(actor, app):
    if app.basis == "illness_poverty":
        evidence = services.material_add(actor=actor, application=app, material_type="property",
                                         upload=_pdf("property.pdf"))
        return services.application_verify(actor=actor, application=app, note=f"{MARK}入户核实属实",
                                           property_check_passed=True, property_evidence=evidence,
                                           property_note="民政部门核查:家庭财产符合当地规定")
    return services.application_verify(actor=actor, application=app, note=f"{MARK}核实属实")


def seed(ctx) -> None:
    log = getattr(ctx, "log", print)
    if Application.objects.filter(note__startswith=MARK).exists():
        log("  assistance: demo already present, nothing changed")
        return
    today = ctx.today
    township = ctx.jurisdiction.townships[0]
    agent = _user(ctx, Role.TOWNSHIP_AGENT, "demo_agent", township.code)
    colleague = staff_save(username="demo_agent_verifier", role=Role.TOWNSHIP_AGENT, township_code=township.code)
    clerk = _user(ctx, Role.WINDOW_CLERK, "demo_clerk")
    reviewer = _user(ctx, Role.REVIEWER, "demo_reviewer")
    reviewer2 = staff_save(username="demo_reviewer2", role=Role.REVIEWER)
    finance = _user(ctx, Role.FINANCE, "demo_finance")
    supervisor = _user(ctx, Role.SUPERVISOR, "demo_supervisor")

    for day, name in ((date(today.year, 10, d), "国庆节") for d in range(1, 8)):
        if not Holiday.objects.filter(date=day).exists():
            services.holiday_save(actor=supervisor, day=day, name=name)

    people = Person.objects.filter(township=township).order_by("id")
    start = today - timedelta(days=365)
    heavy = list(people.filter(claims__status=ClaimStatus.SETTLED, claims__service_date__gte=start)
                 .annotate(oop=Sum("claims__out_of_pocket")).order_by("-oop", "id")[:8])
    objects = list(people.filter(identities__kind__in=["subsistence", "extreme_poverty", "returned_poverty"])
                   .distinct()[:6])
    plain = list(people.exclude(identities__isnull=False).exclude(pk__in=[p.pk for p in heavy])[:6])
    counts = {"filed": 0, "skipped": 0}

    def attempt(step):
        try:
            step()
            counts["filed"] += 1
        except (ValidationError, PermissionDenied) as exc:
            counts["skipped"] += 1
            log(f"  assistance demo: skipped ({'; '.join(getattr(exc, 'messages', [str(exc)]))[:80]})")

    # Illness-poverty determinations in every state, the first ones approved.
    for i, person in enumerate(heavy):
        filer = clerk if i % 3 == 2 else agent
        on = today - timedelta(days=20 + i)

        def step(person=person, filer=filer, on=on, i=i):
            app = _file(filer, person, ApplicationKind.DETERMINATION, "illness_poverty", on)
            if i in (0, 1, 2):
                app = _verify(colleague if filer == agent else reviewer, app)
                if app.means_passed:
                    app = services.application_approve(actor=reviewer2, application=app, on=on,
                                                       reason=f"{MARK}符合认定条件")
                    retro = _file(filer, person, ApplicationKind.RETROACTIVE, "", on)
                    retro = _verify(colleague if filer == agent else reviewer, retro)
                    retro = services.application_approve(actor=reviewer, application=retro, on=on)
                    if retro.amount and i == 0:
                        services.payout_create(actor=finance, application=retro, reference="DEMO-ZF-0001")
                else:
                    services.application_reject(actor=reviewer, application=app, reason=f"{MARK}自负费用未达认定标准")
            elif i == 3:
                services.application_return(actor=reviewer, application=app, reason=f"{MARK}材料不齐",
                                            missing=[{"type": "income", "note": "近12个月家庭收入证明"},
                                                     {"type": "household_register", "note": ""}])
            elif i == 4:
                services.application_reject(actor=reviewer, application=app, reason=f"{MARK}家庭财产超过当地标准")
            # i ≥ 5: left submitted, awaiting the township's verification

        attempt(step)

    # Retroactive and tilt for identity-based objects.
    for i, person in enumerate(objects):
        def step(person=person, i=i):
            kind = ApplicationKind.TILT if i % 2 else ApplicationKind.RETROACTIVE
            app = _file(agent, person, kind, "", today - timedelta(days=10))
            if i < 4:
                app = _verify(colleague, app)
                app = services.application_approve(actor=reviewer, application=app, on=today)
                if app.amount and i == 1:
                    services.payout_create(actor=finance, application=app, reference="DEMO-ZF-0002")

        attempt(step)

    # An old case nobody handled: overdue.
    if plain:
        person = plain[0]
        has_identity = Identity.objects.filter(person=person).exists()
        if not has_identity:
            attempt(lambda: _file(clerk, person, ApplicationKind.DETERMINATION, "illness_poverty",
                                  today - timedelta(days=60)))
    services.applications_flag_overdue(actor=supervisor, on=today)
    log(f"  assistance: {counts['filed']} demo cases, {counts['skipped']} skipped")
