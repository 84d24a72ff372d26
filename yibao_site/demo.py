"""The demo jurisdiction: regions and staff for ``seed_demo``, and the context each app's
``<app>/demo.py`` → ``seed(ctx)`` receives. The order of the apps is the composition root's
(:mod:`config.demo`); the kernel names no app."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction

from .audit import bulk_create_audited
from .models import Region, RegionLevel, Role
from .services import staff_save

CITY = ("420300", "十堰市")
COUNTIES = [("420302", "茅箭区"), ("420303", "张湾区"), ("420304", "郧阳区")]
TOWNSHIP_NAMES = ["武当路街道", "二堰街道", "五堰街道", "白浪街道", "茅箭镇", "东沟镇", "大川镇", "鸳鸯乡", "赛武当镇"]
VILLAGE_SUFFIXES = ["村", "社区"]
VILLAGES_PER_TOWNSHIP = 6
DEMO_STAFF = [
    ("demo_clerk", Role.WINDOW_CLERK), ("demo_agent", Role.TOWNSHIP_AGENT), ("demo_agent2", Role.TOWNSHIP_AGENT),
    ("demo_reviewer", Role.REVIEWER), ("demo_reviewer2", Role.REVIEWER), ("demo_finance", Role.FINANCE),
    ("demo_supervisor", Role.SUPERVISOR),
]


@dataclass
class DemoJurisdiction:
    city: Region
    counties: list[Region]
    townships: list[Region]
    villages: dict[int, list[Region]] = field(default_factory=dict)  # township id → villages

    @property
    def all_villages(self) -> list[Region]:
        return [v for t in self.townships for v in self.villages[t.id]]


@dataclass
class DemoContext:
    rng: random.Random
    persons: int
    jurisdiction: DemoJurisdiction
    staff: dict[str, object]
    today: date
    log: callable = print


@transaction.atomic
def build_jurisdiction() -> DemoJurisdiction:
    """Create (once) one city, three counties, nine townships each, six villages each."""
    existing = {r.code: r for r in Region.objects.filter(code__startswith=CITY[0][:4])}
    city = existing.get(CITY[0]) or Region(code=CITY[0], name=CITY[1], level=RegionLevel.CITY, path=f"/{CITY[0]}/")
    if city.pk is None:
        bulk_create_audited([city], Region, reason="演示数据")
        city = Region.objects.get(code=CITY[0])
    to_create = []
    for county_code, county_name in COUNTIES:
        if county_code not in existing:
            to_create.append(Region(code=county_code, name=county_name, level=RegionLevel.COUNTY, parent=city,
                                    path=f"{city.path}{county_code}/"))
    bulk_create_audited(to_create, Region, reason="演示数据")
    counties = list(Region.objects.filter(code__in=[c for c, _ in COUNTIES]).order_by("code"))
    to_create = []
    for county in counties:
        for i, name in enumerate(TOWNSHIP_NAMES, start=1):
            code = f"{county.code}{i:03d}"
            if code not in existing:
                to_create.append(Region(code=code, name=name, level=RegionLevel.TOWNSHIP, parent=county,
                                        path=f"{county.path}{code}/"))
    bulk_create_audited(to_create, Region, reason="演示数据")
    townships = list(Region.objects.filter(level=RegionLevel.TOWNSHIP, parent__in=counties).order_by("code"))
    to_create = []
    for town in townships:
        for v in range(1, VILLAGES_PER_TOWNSHIP + 1):
            code = f"{town.code}{v:03d}"
            if code not in existing:
                name = f"{town.name[:2]}{v}{VILLAGE_SUFFIXES[v % 2]}"
                to_create.append(Region(code=code, name=name, level=RegionLevel.VILLAGE, parent=town,
                                        path=f"{town.path}{code}/"))
    bulk_create_audited(to_create, Region, reason="演示数据")
    villages: dict[int, list[Region]] = {}
    for v in Region.objects.filter(level=RegionLevel.VILLAGE, parent__in=townships).order_by("code"):
        villages.setdefault(v.parent_id, []).append(v)
    return DemoJurisdiction(city=city, counties=counties, townships=townships, villages=villages)


def build_staff(j: DemoJurisdiction, password: str) -> dict[str, object]:
    staff = {}
    agents = iter(j.townships)
    for username, role in DEMO_STAFF:
        township = next(agents).code if role == Role.TOWNSHIP_AGENT else None
        staff[username] = staff_save(username=username, role=role, township_code=township, password=password)
    return staff
