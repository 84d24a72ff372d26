"""Demo orchestration: the kernel's jurisdiction, policy and staff, then each app's demo data,
in the order the dependencies run (members before the claims that need enrolments, …)."""
from __future__ import annotations

import random
from datetime import date
from importlib import import_module

from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
from yibao_site.packs import pack_load

APP_ORDER = ["members", "chronic", "claims", "procurement", "assistance", "assistance.early_warning"]


def seed(*, persons: int, password: str, log=print, seed_value: int = 2026, today: date | None = None) -> DemoContext:
    """Build the whole demo: regions, policy, staff, then each app's data (once)."""
    j = build_jurisdiction()
    report = pack_load(name="shiyan-2022", region=j.city)
    log(f"policy shiyan-2022 → {j.city.code}: created {report.created}, unchanged {report.unchanged}")
    staff = build_staff(j, password)
    ctx = DemoContext(rng=random.Random(seed_value), persons=persons, jurisdiction=j, staff=staff,
                      today=today or date.today(), log=log)
    for app in APP_ORDER:
        try:
            module = import_module(f"{app}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.demo":
                raise
            continue
        log(f"demo data: {app}")
        module.seed(ctx)
    return ctx
