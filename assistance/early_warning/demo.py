"""Demo data of the double early warning (``seed_demo``): the last three ended months' lists
of the city, the partner-department accounts, and one determination closing the loop.

Idempotent like every ``seed``: a month already run is left as it is.  No push endpoint is
configured (the demo has no partner servers), so every delivery waits for its XLSX download.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError

from . import rules, services
from .models import PartnerAccount, PersonWarning, WarningKind, WarningStatus


def seed(ctx) -> None:
    log = getattr(ctx, "log", print)
    supervisor = ctx.staff.get("demo_supervisor")
    city = ctx.jurisdiction.city
    for username, department in (("demo_minzheng", "civil_affairs"), ("demo_xiangcun", "rural_revitalization")):
        if not PartnerAccount.objects.filter(user__username=username).exists():
            services.partner_account_save(username=username, department=department, region_code=city.code,
                                          actor=supervisor)
    month = rules.previous_month(ctx.today.replace(day=1))
    months = [month]
    for _ in range(2):
        months.insert(0, rules.previous_month(months[0]))
    for first_day in months:
        try:
            run, created = services.warning_run(region=city, month=first_day, actor=supervisor, trigger="demo",
                                                today=ctx.today)
        except ValidationError as exc:
            log(f"  warning {first_day:%Y-%m}: skipped ({'; '.join(exc.messages)})")
            continue
        log(f"  warning {first_day:%Y-%m}: {run.count} persons ({run.new_count} new)"
            f"{'' if created else ', already run'}")
    # Close the loop once: civil affairs determines the first into-poverty person as a
    # category-4 object (因病致贫重病患者).
    if not PersonWarning.objects.exclude(status=WarningStatus.OPEN).exists():
        warning = (PersonWarning.objects.filter(kind=WarningKind.INTO_POVERTY, status=WarningStatus.OPEN,
                                                month=month).order_by("-out_of_pocket").first())
        if warning is not None:
            try:
                services.warning_determine(warning=warning, department="civil_affairs", outcome="approved",
                                           identity_kind="illness_poverty", valid_from=ctx.today,
                                           actor=supervisor, note="演示:民政认定为因病致贫重病患者")
                log(f"  warning determination: person {warning.person_id} → illness_poverty")
            except ValidationError as exc:
                log(f"  warning determination skipped: {'; '.join(exc.messages)}")
