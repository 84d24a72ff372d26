"""Test helpers shared by every app's tests: a small jurisdiction, staff, ID numbers."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .models import Region, RegionLevel, Role
from .packs import pack_load
from .services import region_save, staff_save


def make_id_number(region_code: str, birth: date, seq: int = 1, sex: str = "M") -> str:
    """Return a valid 18-character resident ID for a county code, birth date and sequence."""
    from yibao_site.idnumbers import check_character

    order = seq * 2 + (1 if sex == "M" else 0)  # 17th digit odd for men, even for women
    body = f"{region_code[:6]}{birth:%Y%m%d}{order % 1000:03d}"
    return body + check_character(body)


@dataclass
class Jurisdiction:
    city: Region
    county: Region
    townships: list[Region]
    villages: dict[str, list[Region]] = field(default_factory=dict)

    def village(self, township_index: int = 0, village_index: int = 0) -> Region:
        return self.villages[self.townships[township_index].code][village_index]


def build_jurisdiction(*, pack: str = "shiyan-2022", city=("420300", "十堰市"), county=("420302", "茅箭区"),
                       townships: int = 2, villages: int = 2) -> Jurisdiction:
    """Create a city, one county, ``townships`` townships with ``villages`` villages each,
    and load ``pack`` onto the city."""
    c = region_save(code=city[0], name=city[1], level=RegionLevel.CITY, parent_code=None)
    k = region_save(code=county[0], name=county[1], level=RegionLevel.COUNTY, parent_code=c.code)
    result = Jurisdiction(city=c, county=k, townships=[])
    for t in range(1, townships + 1):
        town = region_save(code=f"{k.code}{t:03d}", name=f"第{t}镇", level=RegionLevel.TOWNSHIP, parent_code=k.code)
        result.townships.append(town)
        result.villages[town.code] = [
            region_save(code=f"{town.code}{v:03d}", name=f"第{t}镇{v}村", level=RegionLevel.VILLAGE,
                        parent_code=town.code)
            for v in range(1, villages + 1)
        ]
    if pack:
        pack_load(name=pack, region=c)
    return result


def build_staff(j: Jurisdiction, password: str = "Yb-test-pass-2026"):
    """One account per role, plus a second agent (other township) and a second reviewer."""
    return {
        "clerk": staff_save(username="clerk", role=Role.WINDOW_CLERK, password=password),
        "agent": staff_save(username="agent", role=Role.TOWNSHIP_AGENT, township_code=j.townships[0].code, password=password),
        "agent_b": staff_save(username="agent_b", role=Role.TOWNSHIP_AGENT, township_code=j.townships[1].code, password=password),
        "reviewer": staff_save(username="reviewer", role=Role.REVIEWER, password=password),
        "reviewer2": staff_save(username="reviewer2", role=Role.REVIEWER, password=password),
        "finance": staff_save(username="finance", role=Role.FINANCE, password=password),
        "supervisor": staff_save(username="supervisor", role=Role.SUPERVISOR, password=password),
    }
