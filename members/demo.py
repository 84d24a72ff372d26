"""Demo data of members for ``seed_demo``: persons in households with close relatives,
three years of enrolment (residents, employees and retirees, some late payers and breaks),
poverty identities, personal-account credits, off-site registrations and this year's draft
subsidy batch.  Written through the importers and services, so a second run changes nothing.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from yibao_site.actors import system_actor
from yibao_site.audit import history_insert_sql, insert_rows_audited
from yibao_site.collector import collector_paused
from yibao_site.imports import COLLECTOR_PAUSE_MIN
from yibao_site.lookups import array_literal
from yibao_site.testing import make_id_number

from . import services
from .importers import EnrollmentImporter, IdentityImporter, PersonImporter, _PersonRef, enrol_new_file
from .models import OffsiteRegistration, Person, Relation, Relative, SubsidyBatch

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建华文"
OTHER_COUNTIES = ["420381", "420322", "420323", "420111", "410102", "500101"]
KINDS = [("subsistence", "civil_affairs"), ("extreme_poverty", "civil_affairs"), ("orphan", "civil_affairs"),
         ("marginal", "civil_affairs"), ("monitored", "rural_revitalization"),
         ("stable_escaped", "rural_revitalization"), ("returned_poverty", "rural_revitalization")]


PERSONS_FILE_ROWS = 500_000  # persons a file (the import's bounds: ``IMPORT_MAX_ROWS``, 100 MB)


def _check(report, what, log):
    if not report.ok:
        raise RuntimeError(f"demo {what} import failed: " + "; ".join(str(e) for e in report.errors[:5]))
    log(f"  {what}: created {report.created}, updated {report.updated}, unchanged {report.unchanged}")


def _persons_csv(rows) -> bytes:
    """The persons as the CSV file ``import_data persons`` reads (its English header)."""
    columns = ("id_number", "name", "village", "phone", "household_no")
    lines = [",".join(columns)] + [",".join(row[c] for c in columns) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _enrol(rows, refs, clerk, log, *, fast: bool | None = None) -> None:
    """The enrolment file: new persons' rows computed and written set-based
    (``importers.enrol_new_file``, what the importer writes for them); otherwise — a second
    run, a row the fast door declines, or ``fast=False`` — through ``EnrollmentImporter``."""
    if fast is not False:
        done = enrol_new_file([(refs[idn], *rest) for idn, *rest in rows], actor=clerk)
        if done is not None:
            log(f"  enrollments: created {done[0]}, updated 0, unchanged 0")
            return
    file_rows = []
    for idn, year, scheme, status, paid_on, base in rows:
        row = {"person": idn, "year": str(year), "scheme": scheme, "paid_on": paid_on.isoformat()}
        if scheme == "employee":
            row["employee_status"] = status
            row["contribution_base"] = "" if base is None else str(base)
        file_rows.append(row)
    _check(EnrollmentImporter(actor=clerk).run(file_rows), "enrollments", log)


# PostgreSQL: the big member rows are written by the server from the demo's values
# (``_relatives_pg``, ``services.account_credit_months``; the persons go through the persons
# import's own server-side door, ``PersonImporter.server_side``); ``_SQL = False`` takes the path of
# before everywhere (the tests compare them).
_SQL = True
_RELATIVE_FIELDS = {"id", "person_id", "relative_id", "relation"}  # what ``_relatives_pg`` writes

# The relatives of the households, both directions, in the Python path's order (a member's
# pair, head → member first), written with their ``+`` history in one statement: a spouse
# always, a child only when born after the head (the birth dates as registered); a pair already
# registered is left out.  Parameters: the relations spouse, child, parent; the heads', the
# members' ids and the members' roles (arrays, in household order); then the history's.
_RELATIVES_SQL = """
WITH m (head, member, role, ord) AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) WITH ORDINALITY),
pairs AS (
    SELECT m.ord, d.dir,
           CASE d.dir WHEN 0 THEN m.head ELSE m.member END AS person_id,
           CASE d.dir WHEN 0 THEN m.member ELSE m.head END AS relative_id,
           CASE WHEN m.role = %s THEN %s WHEN d.dir = 0 THEN %s ELSE %s END AS relation
    FROM m
    JOIN {person} AS h ON h.id = m.head
    JOIN {person} AS p ON p.id = m.member
    CROSS JOIN (VALUES (0), (1)) AS d (dir)
    WHERE m.role = %s OR p.birth_date > h.birth_date
),
ins AS (
    INSERT INTO {relative} (person_id, relative_id, relation)
    SELECT x.person_id, x.relative_id, x.relation FROM pairs AS x
    WHERE NOT EXISTS (SELECT 1 FROM {relative} AS r WHERE r.person_id = x.person_id AND r.relative_id = x.relative_id)
    ORDER BY x.ord, x.dir
    RETURNING *
),
hist AS ({history})
SELECT count(*) FROM ins
"""


def _relatives_pg(households, pid, clerk) -> int:
    """What the Python path writes for ``households`` (the same rows, ids in the same order,
    the same history), by one statement joining the members to their registered rows."""
    heads, members, roles = [], [], []
    for household in households:
        head = pid.get(household[0][1])
        for role, idn in household[1:]:
            member = pid.get(idn)
            if head is not None and member is not None:
                heads.append(head)
                members.append(member)
                roles.append(role)
    if not heads:
        return 0
    history, history_params = history_insert_sql(Relative, "ins", actor=clerk, reason="演示数据", connection=connection)
    sql = _RELATIVES_SQL.format(person=Person._meta.db_table, relative=Relative._meta.db_table, history=history)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")  # (the pairs' sort and RETURNING kept in memory)
        cursor.execute(sql, [array_literal(heads), array_literal(members), array_literal(roles),
                             Relation.SPOUSE, Relation.SPOUSE, Relation.CHILD, Relation.PARENT, Relation.SPOUSE,
                             *history_params])
        return cursor.fetchone()[0]


def _name(rng) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def seed(ctx) -> None:
    # A city's rows (a million persons, three million enrolments) are alive until written, and
    # none is in a reference cycle: the cyclic collector's passes over that heap find nothing.
    with collector_paused(ctx.persons >= COLLECTOR_PAUSE_MIN):
        _seed(ctx)


def _seed(ctx) -> None:
    rng, j, today = ctx.rng, ctx.jurisdiction, ctx.today
    clerk = ctx.staff.get("demo_clerk")
    log = getattr(ctx, "log", print)
    villages = j.all_villages
    county_of = {t.id: t.parent.code for t in j.townships}

    # ── households and persons ──
    rows, households, seq = [], [], 0
    while len(rows) < ctx.persons:
        village = rng.choice(villages)
        household_no = f"H{village.code[-9:]}{len(households):05d}"
        head_birth = date(rng.randint(1945, 1995), rng.randint(1, 12), rng.randint(1, 28))
        members = [("head", head_birth, rng.choice("MF"))]
        if rng.random() < 0.8:
            members.append(("spouse", head_birth + timedelta(days=rng.randint(-1500, 1500)),
                            "F" if members[0][2] == "M" else "M"))
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            child_birth = head_birth + timedelta(days=rng.randint(20 * 365, 38 * 365))
            if child_birth < today - timedelta(days=30):
                members.append(("child", child_birth, rng.choice("MF")))
        household = []
        for role, birth, sex in members[: ctx.persons - len(rows)]:
            seq += 1
            county = county_of[village.parent_id] if rng.random() < 0.9 else rng.choice(OTHER_COUNTIES)
            idn = make_id_number(county, birth, seq % 499 + 1, sex)
            rows.append({"id_number": idn, "name": _name(rng), "village": village.code,
                         "phone": f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}", "household_no": household_no})
            household.append((role, idn))
        households.append(household)
    # make_id_number repeats after 499 persons per county and birth date: keep the first one.
    seen, unique_rows = set(), []
    for row in rows:
        if row["id_number"] not in seen:
            seen.add(row["id_number"])
            unique_rows.append(row)
    # The file door of ``import_data``: on PostgreSQL a file of new persons is checked and
    # written inside the server (``PersonImporter.server_side``), elsewhere row by row.
    importer = PersonImporter(actor=clerk)
    step = max(1, min(PERSONS_FILE_ROWS, getattr(settings, "IMPORT_MAX_ROWS", PERSONS_FILE_ROWS)))
    for lo in range(0, len(unique_rows), step):  # (files within the import's bounds, as a clerk would split them)
        _check(importer.run_file(_persons_csv(unique_rows[lo:lo + step]), "persons.csv"), "persons", log)
    refs = {p.id_number: p for p in map(_PersonRef._make, Person.objects.filter(id_number__any=list(seen))
                                        .values_list("id", "id_number", "birth_date", "township_id"))}
    pid = {idn: p.pk for idn, p in refs.items()}
    birth_of = {idn: p.birth_date for idn, p in refs.items()}

    # ── close relatives (both directions) ──
    if connection.vendor == "postgresql" and _SQL and _RELATIVE_FIELDS == {
            f.attname for f in Relative._meta.concrete_fields}:
        created = _relatives_pg(households, pid, clerk)
    else:
        links = []
        for household in households:
            head = household[0][1]
            for role, idn in household[1:]:
                if role == "spouse":
                    links += [(head, idn, "spouse"), (idn, head, "spouse")]
                elif birth_of.get(idn) and birth_of.get(head) and birth_of[idn] > birth_of[head]:
                    links += [(head, idn, "child"), (idn, head, "parent")]
        have = set(Relative.objects.filter(person_id__any=list(pid.values())).values_list("person_id", "relative_id"))
        new = [(pid[a], pid[b], rel) for a, b, rel in links if a in pid and b in pid and (pid[a], pid[b]) not in have]
        insert_rows_audited(Relative, ("person_id", "relative_id", "relation"), new, actor=clerk, reason="演示数据")
        created = len(new)
    log(f"  relatives: created {created}")

    # ── enrolment: three coverage years ──
    years = [today.year - 2, today.year - 1, today.year]
    enrol_rows = []  # (ID number, year, scheme, status, paid on, contribution base) in file order
    for row in unique_rows:
        idn = row["id_number"]
        birth = birth_of[idn]
        age = today.year - birth.year
        employee = 20 <= age < 75 and rng.random() < 0.18
        skip_year = rng.choice(years) if rng.random() < 0.06 else None
        base = Decimal(rng.randrange(3000, 12000, 100))
        for year in years:
            if year == skip_year or birth.year >= year:
                continue
            if employee:
                status = "retired" if age >= 60 else ("flexible" if rng.random() < 0.2 else "in_service")
                paid_on = min(date(year, 1, rng.randint(5, 20)), today)
                enrol_rows.append((idn, year, "employee", status, paid_on, None if status == "retired" else base))
                continue
            paid_on = date(year - 1, rng.randint(9, 12), rng.randint(1, 28))
            if rng.random() < 0.08:  # a late payer
                late = date(year, rng.randint(1, 4), rng.randint(1, 28))
                paid_on = late if late <= today else paid_on
            if paid_on <= birth:  # a baby: the family pays soon after the birth
                paid_on = birth + timedelta(days=rng.randint(1, 20))
                if paid_on > min(today, date(year, 9, 30)):
                    continue
            enrol_rows.append((idn, year, "resident", "", paid_on, None))
    _enrol(enrol_rows, refs, clerk, log)

    # ── poverty identities ──
    ident_rows = []
    for row in unique_rows:
        if rng.random() < 0.09:
            kind, source = rng.choice(KINDS)
            start = date(rng.randint(today.year - 4, today.year), rng.randint(1, 12), 1)
            start = min(start, today)
            end = "" if rng.random() < 0.8 else (start + timedelta(days=rng.randint(200, 900))).isoformat()
            ident_rows.append({"person": row["id_number"], "kind": kind, "valid_from": start.isoformat(),
                               "valid_to": end, "source": source})
    if ident_rows:
        _check(IdentityImporter(actor=clerk).run(ident_rows), "identities", log)

    # ── personal accounts: this year's monthly credits so far ──
    months = [date(today.year, month, 1) for month in range(1, today.month + 1)]
    runner = system_actor("members.account_credit_month")
    if _SQL:  # (on PostgreSQL the months together, what the runs one by one write)
        reports = services.account_credit_months(months=months, actor=runner)
    else:
        reports = [services.account_credit_month(month=m, actor=runner) for m in months]
    for report in reports:
        log(f"  account credits {report.month:%Y-%m}: {report.credited} (already {report.already})")

    # ── off-site registrations for a few persons ──
    if not OffsiteRegistration.objects.filter(person_id__any=list(pid.values())).exists():
        for idn in rng.sample(sorted(pid), min(12, len(pid))):
            start = today - timedelta(days=rng.randint(0, 200))
            kind = rng.choice(("relocation", "referral"))
            services.offsite_register(person=Person(pk=pid[idn]), kind=kind,
                                      destination=rng.choice(("武汉市", "襄阳市", "海南省三亚市", "北京市")),
                                      in_province=kind == "referral",
                                      hospital="华中科技大学同济医学院附属同济医院" if kind == "referral" else "",
                                      valid_from=start, valid_to=start + timedelta(days=180), actor=clerk)

    # ── this year's subsidy batch (a draft the supervisor can confirm) ──
    existing = SubsidyBatch.objects.filter(region=j.city, year=today.year).first()
    if existing is None or existing.status == "draft":
        batch = services.subsidy_batch_build(region=j.city, year=today.year, actor=clerk)
        log(f"  subsidy batch {today.year}: {batch.count} persons, {batch.total_amount} yuan")
