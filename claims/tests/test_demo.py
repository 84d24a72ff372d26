"""claims.demo.seed builds settlements and fund entries once; a second run changes nothing."""
import random
from dataclasses import dataclass, field
from datetime import date

from claims import demo, selectors
from claims.models import Claim, ClaimSource, FundEntry

from . import factories as f


@dataclass
class Ctx:
    rng: random.Random
    jurisdiction: object
    staff: dict
    today: date
    persons: int = 10
    log: object = field(default=lambda *a: None)


def test_demo_seed_is_idempotent(shiyan, staff):
    for i in range(10):
        p = f.person(shiyan, township=i % 2)
        f.enrol(p, year=2025)
        f.enrol(p, year=2026)
    ctx = Ctx(rng=random.Random(7), jurisdiction=shiyan, staff={"demo_clerk": staff["clerk"]},
              today=date(2026, 3, 15))
    demo.seed(ctx)
    claims, entries = Claim.objects.count(), FundEntry.objects.count()
    assert claims > 5 and entries > 0
    assert Claim.objects.filter(source=ClaimSource.MANUAL).exists()
    assert selectors.ledger_mismatches(year=2025) == [] and selectors.ledger_mismatches(year=2026) == []
    ctx.rng = random.Random(7)
    demo.seed(ctx)
    assert (Claim.objects.count(), FundEntry.objects.count()) == (claims, entries)
    report = selectors.fund_report(year=2025, as_of=date(2026, 3, 15))
    resident = next(x for x in report["funds"] if x["fund"] == "resident")
    assert resident["months_of_capacity"] is not None and resident["months_of_capacity"] > 0


def test_openapi_schema_includes_claims(client, staff):
    client.force_login(staff["supervisor"])
    res = client.get("/api/schema/")
    assert res.status_code == 200
    body = res.content.decode()
    assert "/api/v1/claims/{id}/reverse/" in body and "/api/v1/fund-report/" in body


def test_demo_backdate_gives_each_record_its_settlement_time(shiyan, staff):
    """The set-based UPDATE (PostgreSQL) and the per-row path agree: a few days after the
    service date, 10:00 Shanghai time."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    for i in range(6):
        p = f.person(shiyan, township=i % 2)
        f.enrol(p, year=2025)
    ctx = Ctx(rng=random.Random(3), jurisdiction=shiyan, staff={"demo_clerk": staff["clerk"]},
              today=date(2026, 3, 15))
    demo.seed(ctx)
    claims = list(Claim.objects.filter(year=2025, external_ref__startswith="DEMO-2025-"))
    assert claims
    tz = ZoneInfo("Asia/Shanghai")
    for claim in claims:
        assert claim.settled_at == datetime.combine(claim.service_date + timedelta(days=claim.pk % 5), time(10), tz)
