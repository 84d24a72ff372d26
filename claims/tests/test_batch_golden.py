"""The settlement batch's output, held byte for byte to what it was before the batch's Python
was sped up (issue 14): a varied fixture — both packs, residents and employees, every visit
type, assistance categories, tilt, platform-given amounts, 两病, caps reached, a late claim
(补录) with its adjustments, a reversal and a single settlement — settled, then every claim,
claim history row, ledger, ledger entry, fund entry and enrolment dumped with ids (and the
entries' random batch ids) replaced by their rank and compared with ``golden/settlement_batch.<vendor>.json``.

The golden files (each row's digest) were written by the code before the change
(``GOLDEN_WRITE=1``); one per database because ``jsonb`` orders a document's keys its own way.  The returned claims'
breakdowns and explanations (before any database) are compared too, in the order the code
built them."""
from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.db import connection, models

from claims import services
from claims.models import Claim, FundEntry, LedgerEntry, PersonYearLedger
from members.models import Enrollment, Person

from . import factories as f

GOLDEN = Path(__file__).parent / "golden"


def _people(j, rng: random.Random, n: int, tag: int):
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 4:
            p = f.person(j, township=i % 2)
            f.enrol(p, scheme="employee", status="in_service" if i % 12 == 4 else "retired")
        else:
            p = f.insured(j, township=i % 2)
        if kind == 1:
            f.identity(p, "subsistence")
        elif kind == 2:
            f.identity(p, ("extreme_poverty", "orphan", "returned_poverty", "monitored")[i // 6 % 4])
        elif kind == 3:
            f.grant(p, "determination", category=3 + i // 6 % 2)
        elif kind == 5:
            f.identity(p, "marginal")
            f.grant(p, "tilt", category=2)
        out.append(p)
    return out


def _specs(rng: random.Random, people, n: int, first: date, days: int):
    out = []
    for i in range(n):
        p = people[rng.randrange(len(people))]
        visit = rng.choices(["outpatient", "chronic", "inpatient"], weights=[45, 20, 35])[0]
        if visit == "outpatient":
            total = D(rng.randint(1_000, 90_000)) / 100
        elif visit == "chronic":
            total = D(rng.randint(20_000, 900_000)) / 100
        else:
            total = D(rng.randint(100_000, 40_000_000)) / 100
        scope = (total * D(rng.randint(60, 100)) / 100).quantize(D("0.01"))
        kw = {}
        day = first + timedelta(days=rng.randrange(days))
        roll = rng.random()
        if roll < 0.06:
            kw["basic_paid"] = (scope * D("0.5")).quantize(D("0.01"))
            if roll < 0.02:
                kw["critical_paid"] = (scope * D("0.1")).quantize(D("0.01"))
        elif roll < 0.12 and visit == "outpatient":
            kw["diagnosis"] = rng.choice(["I10", "E11.9", "J06.9"])
        elif roll < 0.18:
            kw["in_province"] = False
            kw["referred"] = rng.random() < 0.5
        elif roll < 0.22:
            kw["in_region"] = False
        out.append(services.ClaimInput(
            person_id=p.pk, visit_type=visit, hospital_level=rng.choice((1, 2, 2, 3)),
            service_date=day, total_cost=total, policy_scope_cost=scope,
            admission_date=day - timedelta(days=rng.randrange(12)) if visit == "inpatient" else None, **kw))
    return out


def _value(value):
    if isinstance(value, D):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _dump() -> dict:
    """Every row the batch writes, ids as ranks, timestamps left out."""
    targets = [Person, Enrollment, Claim, Claim.history.model, PersonYearLedger, LedgerEntry,
               LedgerEntry.history.model, FundEntry, FundEntry.history.model]
    ranks = {m: {pk: k for k, pk in enumerate(m.objects.order_by("pk").values_list("pk", flat=True))}
             for m in (Person, Enrollment, Claim, PersonYearLedger, LedgerEntry, FundEntry)}
    out = {}
    batches: dict[str, int] = {}  # a re-settlement's batch id (random) → its rank of appearance
    for model in targets:
        if model is Person:
            continue
        source = getattr(model, "instance_type", None)
        rows = []
        for obj in model.objects.order_by("pk"):
            row = {}
            for field in model._meta.concrete_fields:
                if field.primary_key or isinstance(field, models.DateTimeField):
                    continue
                value = getattr(obj, field.attname)
                if field.name == "id" and source is not None:
                    value = ranks[source].get(value)
                elif field.name == "batch" and issubclass(source or model, LedgerEntry):
                    value = batches.setdefault(value, len(batches))
                elif field.is_relation:
                    target = field.related_model
                    target = getattr(target, "instance_type", target)
                    if value is not None and target in ranks:
                        value = ranks[target].get(value)
                    elif value is not None:
                        value = str(getattr(obj, field.name))
                row[field.name] = _value(value)
            rows.append(row)
        if source is not None:
            # History rows by object, then content: the server numbers them in the order its
            # ``INSERT … SELECT`` reads the rows (a plan's choice, not the code's).
            rows.sort(key=lambda r: (r["id"], json.dumps(r, ensure_ascii=False)))
        out[model._meta.label] = rows
    return out


def _run(j, staff, seed: int) -> dict:
    rng = random.Random(seed)
    people = _people(j, rng, 90, seed)
    clerk = staff["clerk"]
    built = []
    # one batch above the COPY threshold, in date order (as the bench and the import send it)
    first = sorted(_specs(rng, people, 480, date(2024, 1, 2), 200), key=lambda i: i.service_date)
    built += services.claims_settle_batch(inputs=first, actor=clerk)
    # a second batch: later claims for most, a late claim (补录) for some (adjustments written)
    second = _specs(rng, people, 230, date(2024, 7, 20), 150) + _specs(rng, people[:6], 6, date(2024, 2, 1), 30)
    built += services.claims_settle_batch(inputs=second, actor=clerk)
    # a reversal and a single settlement
    target = next(c for c in built if c.visit_type == "inpatient" and c.critical_paid > 0)
    services.claim_reverse(claim=Claim.objects.get(pk=target.pk), actor=clerk, reason="测试冲销")
    built.append(f.settle(people[7], visit_type="inpatient", level=3, on=date(2024, 12, 20), total="180000.00",
                          scope="150000.00"))
    dump = _dump()
    dump["built"] = [[c.visit_type, str(c.basic_paid), str(c.critical_paid), str(c.assistance_paid),
                      str(c.second_round_paid), str(c.out_of_pocket), c.policy_version,
                      json.dumps(c.breakdown, ensure_ascii=False), c.explanation] for c in built]
    return dump


def _digest(row) -> str:
    return hashlib.sha256(json.dumps(row, ensure_ascii=False).encode("utf-8")).hexdigest()[:20]


def _compare(name: str, dump: dict):
    """Each row's JSON text (keys in the order written) by its SHA-256 prefix: a difference
    names its table and row (``GOLDEN_WRITE=1`` writes the file; ``GOLDEN_DUMP=dir`` keeps
    the full rows to look at)."""
    path = GOLDEN / f"{name}.{connection.vendor}.json"
    digests = {key: [_digest(row) for row in rows] for key, rows in dump.items()}
    if os.environ.get("GOLDEN_DUMP"):
        Path(os.environ["GOLDEN_DUMP"], path.name).write_text(json.dumps(dump, ensure_ascii=False, indent=0))
    if os.environ.get("GOLDEN_WRITE"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(digests, indent=0) + "\n", encoding="utf-8")
    golden = json.loads(path.read_text(encoding="utf-8"))
    assert set(digests) == set(golden)
    for key in golden:  # table by table, row by row: a difference names its row
        assert len(digests[key]) == len(golden[key]), key
        for k, (new, old) in enumerate(zip(digests[key], golden[key])):
            assert new == old, (key, k, dump[key][k])


# Sequences reset: ids (which the breakdowns and texts carry) are the same whatever ran before.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_batch_output_is_the_golden_one_shiyan(shiyan, staff):
    _compare("settlement_batch_shiyan", _run(shiyan, staff, 14))


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_batch_output_is_the_golden_one_yicheng(yicheng):
    from yibao_site.testing import build_staff

    _compare("settlement_batch_yicheng", _run(yicheng, build_staff(yicheng), 41))
