"""Reads of claims and year ledgers: lists, claims in force, year-to-date out-of-pocket, the
nightly integrity check, a person-year as entries (API.md ``ledgers/``)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import reduce
from operator import add

from django.db.models import Case, Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Round

from yibao_site.money import to_fen
from yibao_site.scoping import scope_queryset

from ..models import Claim, ClaimStatus, LedgerEntry, PersonYearLedger


# ── lists ─────────────────────────────────────────────────────────────────────────────────
def claim_list(user) -> QuerySet[Claim]:
    """Claims the user may see, newest first."""
    return scope_queryset(Claim.objects.select_related("person", "person__township"), user).order_by("-id")


def ledger_for(person_id: int, year: int) -> PersonYearLedger | None:
    return PersonYearLedger.objects.filter(person_id=person_id, year=year).first()


def year_to_date_out_of_pocket(person_ids: Iterable[int], year: int, through_month: int) -> dict[int, Decimal]:
    """Out-of-pocket of ``year`` through ``through_month`` per person, from the ledger
    (the sum of ``oop_m01`` … ``oop_mM``): one indexed scan, no GROUP BY over claims."""
    fields = [f"oop_m{m:02d}" for m in range(1, through_month + 1)]
    rows = (PersonYearLedger.objects.filter(person_id__in=set(person_ids), year=year)
            .values_list("person_id", *fields))
    return {row[0]: sum(row[1:], Decimal("0.00")) for row in rows}


def claims_in_force(*, person_ids: Iterable[int] | None = None, start: date | None = None,
                    end: date | None = None) -> QuerySet[Claim]:
    """Settled claims still in force (not reversed, not a reversal row), optionally for some
    persons and a service-date range [start, end]: what the ledger counts, for other apps."""
    qs = Claim.objects.filter(status=ClaimStatus.SETTLED, reversal_of__isnull=True).exclude(
        Exists(Claim.objects.filter(reversal_of=OuterRef("pk"))))
    if person_ids is not None:
        qs = qs.filter(person_id__in=person_ids)
    if start is not None:
        qs = qs.filter(service_date__gte=start)
    if end is not None:
        qs = qs.filter(service_date__lte=end)
    return qs


def year_to_date_out_of_pocket_expression(through_month: int):
    """``oop_m01 + … + oop_mM`` of :class:`PersonYearLedger` as a query expression, rounded to
    the fen (exact on PostgreSQL; on SQLite the sum is binary floating point, and the rounding
    keeps "exactly at the line" exactly at it) — for set-based readers such as the early warning."""
    columns = [F(f"oop_m{m:02d}") for m in range(1, through_month + 1)]
    return Round(reduce(add, columns), 2, output_field=DecimalField(max_digits=14, decimal_places=2))


def claim_totals(qs: QuerySet[Claim]) -> dict[str, Decimal]:
    return qs.aggregate(total_cost=Sum("total_cost"), basic_paid=Sum("basic_paid"),
                        critical_paid=Sum("critical_paid"), assistance_paid=Sum("assistance_paid"),
                        second_round_paid=Sum("second_round_paid"), out_of_pocket=Sum("out_of_pocket"))


# ── ledger integrity (nightly check) ──────────────────────────────────────────────────────
LEDGER_CHECKS = {
    "total_cost": "total_cost", "policy_scope_cost": "policy_scope_cost", "critical_paid": "critical_paid",
    "assistance_paid": "assistance_paid", "second_round_paid": "second_round_paid", "out_of_pocket": "out_of_pocket",
}


MAX_PERSON_ID = 2**63 - 1


def ledger_shard_ranges(*, year: int, size: int) -> list[tuple[int, int, int]]:
    """Cut the persons of ``year``'s ledgers into contiguous person-id ranges of about ``size``
    ledgers each, covering every id (a person with claims but no ledger falls in one too):
    ``[(first id, last id, ledgers)]`` in id order, one ``NTILE`` query in the server."""
    from django.db import connection

    total = PersonYearLedger.objects.filter(year=year).count()
    tiles = max(1, -(-total // max(1, size)))
    if tiles == 1:
        return [(0, MAX_PERSON_ID, total)]
    table = connection.ops.quote_name(PersonYearLedger._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t, MAX(person_id), COUNT(*) FROM (SELECT person_id, NTILE(%s) OVER "
                       f"(ORDER BY person_id) AS t FROM {table} WHERE year = %s) tiles GROUP BY t ORDER BY t",
                       [tiles, year])
        rows = cursor.fetchall()
    out, start = [], 0
    for k, (_tile, last, count) in enumerate(rows):
        end = MAX_PERSON_ID if k == len(rows) - 1 else int(last)
        out.append((start, end, int(count)))
        start = end + 1
    return out


def ledger_mismatches(*, year: int, person_ids: Iterable[int] | None = None,
                      person_range: tuple[int, int] | None = None) -> list[dict]:
    """Compare each year ledger with the sums of its claims: totals, every paid tier,
    out-of-pocket by service month and the count of claims in force.  A reversed claim and its
    reversal entry net to zero, so the sums run over every row.  Return one row per
    difference (an empty list when the ledgers are right).  ``person_range`` (first, last
    person id) checks one shard of the year (:func:`ledger_shard_ranges`)."""
    claims = Claim.objects.filter(year=year)
    ledgers = PersonYearLedger.objects.filter(year=year)
    entries = LedgerEntry.objects.filter(year=year)
    if person_ids is not None:
        ids = set(person_ids)
        claims, ledgers = claims.filter(person_id__in=ids), ledgers.filter(person_id__in=ids)
        entries = entries.filter(person_id__in=ids)
    if person_range is not None:
        claims, ledgers, entries = (qs.filter(person_id__gte=person_range[0], person_id__lte=person_range[1])
                                     for qs in (claims, ledgers, entries))
    zero = Value(Decimal("0.00"), output_field=DecimalField(max_digits=14, decimal_places=2))
    sums = {f"s_{name}": Sum(name) for name in (*LEDGER_CHECKS, "basic_paid")}
    sums.update({f"s_oop_m{m:02d}": Sum(Case(When(service_date__month=m, then=F("out_of_pocket")), default=zero))
                 for m in range(1, 13)})
    sums["s_claims_count"] = Count("id", filter=Q(status=ClaimStatus.SETTLED))
    expected = {row["person_id"]: {k[2:]: v for k, v in row.items() if k.startswith("s_")}
                for row in claims.values("person_id").annotate(**sums).order_by()}
    # Payouts and adjustments (LedgerEntry) move the same totals; their month is the month of
    # the claim they belong to.
    entry_sums = {"s_critical_paid": Sum("critical"), "s_assistance_paid": Sum("assistance"),
                  "s_second_round_paid": Sum("second_round"), "s_out_of_pocket": Sum("out_of_pocket"),
                  "s_basic_paid": Sum("basic")}
    entry_sums.update({f"s_oop_m{m:02d}": Sum(Case(When(claim__service_date__month=m, then=F("out_of_pocket")),
                                                  default=zero)) for m in range(1, 13)})
    for row in entries.values("person_id").annotate(**entry_sums).order_by():
        target = expected.setdefault(row["person_id"], {})
        for k, v in row.items():
            if k.startswith("s_") and v is not None:
                target[k[2:]] = (target.get(k[2:]) or Decimal("0.00")) + v
    month_fields = [f"oop_m{m:02d}" for m in range(1, 13)]
    fields = [*LEDGER_CHECKS, *month_fields, "claims_count"]
    out = []
    seen = set()
    for ledger in ledgers.values("person_id", *fields, "basic_inpatient_paid", "basic_outpatient_paid",
                                 "basic_chronic_paid"):
        pid = ledger["person_id"]
        seen.add(pid)
        want_row = expected.get(pid, {})
        actual = {k: ledger[k] for k in fields}
        actual["basic_paid"] = (ledger["basic_inpatient_paid"] + ledger["basic_outpatient_paid"]
                                + ledger["basic_chronic_paid"])
        for k, value in actual.items():
            want = want_row.get(k)
            if want is None:
                want = 0 if k == "claims_count" else Decimal("0.00")
            elif k != "claims_count":
                # SQLite sums decimals as binary floating point (18.30 + 15.00 − 18.30 − 15.00 is
                # −3.6e−15 there): compare at the fen, which is what both sides are kept to.
                want = to_fen(want)
            if value != want:
                out.append({"person_id": pid, "year": year, "field": k, "ledger": value, "claims": want})
    for pid in set(expected) - seen:
        out.append({"person_id": pid, "year": year, "field": "ledger", "ledger": None, "claims": "missing"})
    return out


# ── the person-year ledger as entries (API.md ``ledgers/``) ───────────────────────────────
_CLAIM_ROW_FIELDS = ("id", "person_id", "year", "status", "reversal_of_id", "basic_paid", "critical_paid",
                     "assistance_paid", "second_round_paid", "out_of_pocket", "settled_at", "service_date",
                     "explanation")


def _claim_row(c) -> dict:
    reversal = c.status == ClaimStatus.REVERSAL
    return {"kind": "reversal" if reversal else "claim", "claim": c.reversal_of_id if reversal else c.pk,
            "basic": c.basic_paid, "critical": c.critical_paid, "assistance": c.assistance_paid,
            "second_round": c.second_round_paid, "out_of_pocket": c.out_of_pocket,
            "reason": (c.explanation.splitlines() or [""])[0], "cash_status": "", "application": None,
            "at": c.settled_at}


def ledger_entries_many(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[dict]]:
    """:func:`ledger_entries` for many (person id, year) keys: two queries per year in the set
    (claims, entries), not two per ledger — a page of the ``ledgers/`` list."""
    by_year: dict[int, set[int]] = {}
    for person_id, year in keys:
        by_year.setdefault(year, set()).add(person_id)
    out: dict[tuple[int, int], list[dict]] = {(p, y): [] for y, ps in by_year.items() for p in ps}
    for year, person_ids in by_year.items():
        for c in (Claim.objects.filter(person_id__in=person_ids, year=year).order_by("settled_at", "id")
                  .only(*_CLAIM_ROW_FIELDS)):
            out[(c.person_id, year)].append(_claim_row(c))
        for e in LedgerEntry.objects.filter(person_id__in=person_ids, year=year).order_by("at", "id"):
            out[(e.person_id, year)].append(entry_row(e))
    for rows in out.values():
        rows.sort(key=lambda row: row["at"])  # stable: claims before entries at the same instant
    return out


def ledger_entries(person_id: int, year: int) -> list[dict]:
    """Every entry of a person-year in the order it was written: each claim's settlement and
    reversal (the ``Claim`` rows) and each one-time payment and adjustment (``LedgerEntry``)."""
    return ledger_entries_many([(person_id, year)])[(person_id, year)]


def entry_row(e) -> dict:
    return {"kind": e.kind, "claim": e.claim_id, "basic": e.basic, "critical": e.critical,
            "assistance": e.assistance, "second_round": e.second_round, "out_of_pocket": e.out_of_pocket,
            "reason": e.reason, "cash_status": e.cash_status, "application": e.application_id, "at": e.at}


def ledger_view(ledger: PersonYearLedger, entries: list[dict] | None = None) -> dict:
    return {"person": ledger.person, "year": ledger.year, "basic_paid": ledger.basic_paid,
            "critical_paid": ledger.critical_paid, "assistance_paid": ledger.assistance_paid,
            "second_round_paid": ledger.second_round_paid, "out_of_pocket": ledger.out_of_pocket,
            "claims_count": ledger.claims_count,
            "entries": entries if entries is not None else ledger_entries(ledger.person_id, ledger.year)}


def ledger_views(ledgers: Iterable[PersonYearLedger]) -> list[dict]:
    """:func:`ledger_view` for a page of ledgers with their entries in two queries per year."""
    ledgers = list(ledgers)
    entries = ledger_entries_many((row.person_id, row.year) for row in ledgers)
    return [ledger_view(row, entries[(row.person_id, row.year)]) for row in ledgers]
