"""The ``persons``, ``enrollments`` and ``identities`` importers (API.md import resources).

Each runs on ``yibao_site.imports.BulkImporter``: existing keys are looked up per batch in a
few set-based queries, every row is validated in memory by the same functions the services
use (``services.person_build``, ``services.enrollment_build``, ``services.identity_validate``),
and the file is written in bulk only when no row is bad.  A second import of the same file
finds every row unchanged.

On PostgreSQL a plain CSV of new persons (``PersonImporter.server_side``) is checked and
written by the server itself — the same rules in SQL, the same rows and history — and any file
it cannot be sure of goes the Python way above, which stays the reference.
"""
from __future__ import annotations

import time
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.audit import (
    COPY_THRESHOLD, bulk_create_audited, bulk_update_audited, history_insert_sql, insert_rows_audited,
    insert_shared_rows_audited,
)
from yibao_site.idnumbers import PROVINCE_CODES
from yibao_site.imports import (
    COLLECTOR_PAUSE_MIN, BulkImporter, ImportReport, RowError, collector_paused, register, write_conflict,
)
from yibao_site.lookups import array_literal
from yibao_site.imports import cell_date as _date
from yibao_site.imports import cell_text as _text
from yibao_site.models import Region, RegionLevel, Role
from yibao_site.money import FEN, ZERO
from yibao_site.policy import PolicyCache
from yibao_site.scoping import scope_queryset, user_scope_region

from . import rules, selectors, services
from .models import (
    Enrollment, EnrollmentVia, Identity, PersonalAccount, Person, Scheme, Sex,
)
from yibao_site.idnumbers import normalise_id_number

# ── cell parsing ──────────────────────────────────────────────────────────────────────────






def _decimal(row: dict[str, Any], key: str, errors: dict) -> Decimal | None:
    text = _text(row, key)
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.setdefault(key, []).append(_("应为金额数字,如 380.00。"))
        return None
    if not value.is_finite() or value != value.quantize(FEN) or abs(value) >= Decimal("1e12"):
        errors.setdefault(key, []).append(_("金额最多两位小数。"))
        return None
    return value


def _int(row: dict[str, Any], key: str, errors: dict) -> int | None:
    text = _text(row, key)
    if not text.isdigit():
        errors.setdefault(key, []).append(_("应为整数。"))
        return None
    return int(text)


def _merge(errors: dict, exc: ValidationError) -> None:
    for f, msgs in exc.message_dict.items():
        errors.setdefault("detail" if f == "__all__" else f, []).extend(msgs)


# ── persons ───────────────────────────────────────────────────────────────────────────────

_PERSON_FIELDS = ("name", "village_id", "township_id", "phone", "household_no", "id_outside_county")


@register
class PersonImporter(BulkImporter):
    name = "persons"
    verbose_name = "参保人员"
    columns = ["id_number", "name", "village", "phone", "household_no", "sex", "birth_date"]
    example = {"id_number": "420302197005060012", "name": "张三", "village": "420302001001", "phone": "13800000000",
               "household_no": "H0001", "sex": "男", "birth_date": "1970-05-06"}
    required = {"id_number", "name", "village"}
    header_aliases = {"公民身份号码": "id_number", "身份证号": "id_number", "姓名": "name", "村(社区)": "village",
                      "村(社区)代码": "village", "联系电话": "phone", "户号": "household_no", "性别": "sex",
                      "出生日期": "birth_date"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.villages: dict[str, Region] = {}
        self.counties: dict[int, str] = {}

    def prepare(self, rows):
        codes = {_text(r, "village") for r in rows} - set(self.villages)
        # A village outside the actor's scope reads as unknown.
        for region in in_scope(Region.objects.filter(code__in=codes), self.actor).only(
                "id", "code", "level", "parent_id", "path"):
            self.villages[region.code] = region
            self.counties[region.pk] = region.county_code() or ""

    def clean_row(self, row):
        village = self.villages.get(_text(row, "village"))
        person = services.person_check(
            id_number=_text(row, "id_number"), name=_text(row, "name"), village=village,
            phone=_text(row, "phone"), household_no=_text(row, "household_no"),
            county_code=self.counties.get(village.pk) if village is not None else None)
        sex = _text(row, "sex")
        birth_text = _text(row, "birth_date")
        if not sex and not birth_text:
            return person
        errors: dict[str, list[str]] = {}
        if sex and sex not in (person.sex, dict(Sex.choices)[person.sex]):
            errors["sex"] = [_("性别与公民身份号码不符。")]
        if birth_text:
            birth = _date(row, "birth_date", errors)
            if birth is not None and birth != person.birth_date:
                errors["birth_date"] = [_("出生日期与公民身份号码不符。")]
        if errors:
            raise ValidationError(errors)
        return person

    def check_file(self, rows, cleaned):
        seen: dict[str, int] = {}
        errors = []
        for number, person in cleaned:
            if person.id_number in seen:
                errors.append(RowError(number, "id_number", _("与第 %(row)s 行重复。") % {"row": seen[person.id_number]}))
            seen[person.id_number] = number
        if scope_narrows(self.actor):  # an update may not move a person of another region into one's own
            ids = list(seen)
            outside = set(Person.objects.filter(id_number__any=ids).values_list("id_number", flat=True)) - set(
                in_scope(Person.objects.filter(id_number__any=ids), self.actor).values_list("id_number", flat=True))
            errors.extend(RowError(number, "id_number", _("参保人 %(id)s 不存在或不在您的辖区。") % {"id": person.id_number})
                          for number, person in cleaned if person.id_number in outside)
        return errors

    def write(self, cleaned, *, actor=None):
        # Compare as tuples (cheap); new rows go out as plain values (COPY on PostgreSQL, no
        # model instance per row); whole instances are loaded only for the rows that changed,
        # so that their history rows are complete.
        existing = {row[0]: row[1:] for row in Person.objects.filter(
            id_number__any=[c.id_number for c in cleaned]).values_list("id_number", "pk", *_PERSON_FIELDS)}
        new, differing = [], {}
        for person in cleaned:
            current = existing.get(person.id_number)
            if current is None:
                new.append(person)
            elif current[1:] != tuple(getattr(person, f) for f in _PERSON_FIELDS):
                differing[current[0]] = person
        changed = list(Person.objects.filter(pk__in=differing)) if differing else []
        for current in changed:
            for f in _PERSON_FIELDS:
                setattr(current, f, getattr(differing[current.pk], f))
        insert_rows_audited(Person, services.PersonValues._fields, new, actor=actor, reason=_("导入参保人员"))
        bulk_update_audited(changed, Person, list(_PERSON_FIELDS), actor=actor, reason=_("导入参保人员"))
        return len(new), len(changed), len(cleaned) - len(new) - len(changed)


    def server_side(self, plain, *, actor=None, progress=None):
        """A file of new persons only, inside PostgreSQL: the CSV is copied into a temporary
        table of lines, and ONE statement splits and checks them by the rules of
        ``clean_row``/``check_file`` (written again in SQL, see ``_SERVER_ROWS``), joins each
        row to its village among those in the actor's scope, and — only when every row passed
        — writes the rows with their history (``_SERVER_STATEMENT``): what ``write`` writes for
        the same file (``insert_rows_audited``: the same columns, ids in file order, one
        timestamp, the same ``+`` history rows).  The checks and the write see one snapshot:
        an ID another writer takes after it is refused by the unique key (a conflict, nothing
        written), as the Python path's write is.

        Declines (``None``: the file goes the Python way, which reports by row number) when
        the file is small, when any row breaks a rule or could not be checked here for sure
        (a cell starting like a formula, a birth in the last two days, a sex or birth date
        written otherwise than ``M``/``男`` or ``YYYY-MM-DD``), when an ID appears twice or is
        already registered (an update), or when a village is unknown or out of scope."""
        if plain.lines < COPY_THRESHOLD or {f.attname for f in Person._meta.concrete_fields} != _SERVER_FIELDS:
            return None  # (a field this door does not fill: only the Python path knows its value)
        # A file imported again is seen at its first row, before anything is copied.
        first = plain.body.split(b"\n", 1)[0].decode("utf-8").split(",")
        if len(first) == len(plain.columns) and Person.objects.filter(
                id_number=normalise_id_number(first[plain.columns.index("id_number")])).exists():
            return None
        try:  # the villages the actor may register persons in (``prepare``'s look-up, as SQL)
            villages, village_params = in_scope(Region.objects.filter(
                level=RegionLevel.VILLAGE, parent__isnull=False), actor).order_by().values_list(
                "code", "id", "parent_id", "path").query.sql_with_params()
        except EmptyResultSet:  # no village at all
            return None
        started = time.perf_counter()
        width = len(plain.columns)
        cell = {c: f"btrim(c[{i + 1}], ' ')" for i, c in enumerate(plain.columns)}
        cells = {c: cell.get(c, "''::text") for c in self.columns}
        labels = {code: [code, str(label)] for code, label in Sex.choices}
        report = ImportReport(resource=self.verbose_name or self.name)

        class Decline(Exception):
            pass

        total = 0
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # One line a row (text format; the file holds no backslash, and no \x01 to split on).
                cursor.execute("CREATE TEMP TABLE import_person_lines (ord bigserial, line text NOT NULL) "
                               "ON COMMIT DROP")
                with cursor.cursor.copy("COPY import_person_lines (line) FROM STDIN "
                                        "(FORMAT text, DELIMITER E'\\x01')") as copy:
                    view = memoryview(plain.body)
                    for lo in range(0, len(view), 1 << 20):
                        copy.write(view[lo:lo + (1 << 20)])
                # The checked rows are kept in memory for the statement's two reads of them.
                cursor.execute("SET LOCAL work_mem = '64MB'")
                now = timezone.now()
                history, history_params = history_insert_sql(Person, "ins", actor=actor, reason=_("导入参保人员"),
                                                             now=now, connection=connection)
                cursor.execute(
                    _SERVER_STATEMENT.format(rows=_SERVER_ROWS.format(width=width, **cells), villages=villages,
                                             history=history),
                    [array_literal(sorted(PROVINCE_CODES)), array_literal(labels[Sex.MALE]),
                     array_literal(labels[Sex.FEMALE]), *village_params, now, COPY_THRESHOLD, *history_params])
                total, bad, distinct, taken, written = cursor.fetchone()
                if total < COPY_THRESHOLD or bad or distinct != total or taken:
                    raise Decline  # (nothing was written: the INSERT's gate was shut)
                assert written == total, (written, total)
                cursor.execute("DROP TABLE import_person_lines")
                if progress:
                    progress("write", total, total)
        except Decline:
            return None
        except IntegrityError as exc:  # a concurrent writer took an ID meanwhile: nothing written
            report.errors.append(write_conflict(exc))
            total = sum(1 for line in plain.body.split(b"\n") if line)  # (the rows, blank lines left out)
        report.total = total
        report.created = 0 if report.errors else total
        report.seconds = time.perf_counter() - started
        return report


# What ``_SERVER_STATEMENT`` writes: every column of a person.
_SERVER_FIELDS = {"id", "id_number", "name", "sex", "birth_date", "village_id", "township_id", "phone", "household_no",
                  "id_outside_county", "created_at"}

# The rows of a ``PlainCSV`` of persons, split and checked: ``ok`` only where ``clean_row`` would
# accept the row with these very values (each cell stripped, the ID upper-cased; birth date and
# sex derived from the ID).  The CASEs keep every cast and ``make_date`` to well-formed input;
# the check character is GB 11643's weighted sum of the digits' bytes (less 48 × Σ weights = 4800).
_SERVER_ROWS = """
SELECT ord, idn, name, village, phone, household_no, birth, sex,
       width = {width}
       AND birth IS NOT NULL AND birth < current_date - 1
       AND left(idn, 2) = ANY(%s::text[])
       AND name <> '' AND char_length(name) <= 50
       AND (phone = '' OR (char_length(phone) <= 20 AND phone ~ '^[0-9-]*[0-9][0-9-]*$'))
       AND char_length(household_no) <= 30
       AND (sex_cell = '' OR sex_cell = ANY(CASE sex WHEN 'M' THEN %s::text[] ELSE %s::text[] END))
       AND (birth_cell = '' OR birth_cell = to_char(birth, 'YYYY-MM-DD'))
       AND NOT (left(idn, 1) IN ('=', '+', '-', '@') OR left(name, 1) IN ('=', '+', '-', '@')
                OR left(village, 1) IN ('=', '+', '-', '@') OR left(phone, 1) IN ('=', '+', '-', '@')
                OR left(household_no, 1) IN ('=', '+', '-', '@') OR left(sex_cell, 1) IN ('=', '+', '-', '@')
                OR left(birth_cell, 1) IN ('=', '+', '-', '@')) AS ok
FROM (
    SELECT *, CASE WHEN y >= 1900 AND m BETWEEN 1 AND 12 AND d BETWEEN 1 AND 31 AND check_ok THEN
                  CASE WHEN extract(month FROM make_date(y, m, 1) + (d - 1)) = m THEN make_date(y, m, 1) + (d - 1) END
              END AS birth
    FROM (
        SELECT *, CASE WHEN well_formed THEN substr(idn, 7, 4)::int END AS y,
               CASE WHEN well_formed THEN substr(idn, 11, 2)::int END AS m,
               CASE WHEN well_formed THEN substr(idn, 13, 2)::int END AS d,
               CASE WHEN well_formed THEN (CASE WHEN mod(get_byte(b, 16), 2) = 1 THEN 'M' ELSE 'F' END)
               END AS sex,
               CASE WHEN well_formed THEN substr('10X98765432', mod(
                   get_byte(b, 0) * 7 + get_byte(b, 1) * 9 + get_byte(b, 2) * 10 + get_byte(b, 3) * 5
                   + get_byte(b, 4) * 8 + get_byte(b, 5) * 4 + get_byte(b, 6) * 2 + get_byte(b, 7) * 1
                   + get_byte(b, 8) * 6 + get_byte(b, 9) * 3 + get_byte(b, 10) * 7 + get_byte(b, 11) * 9
                   + get_byte(b, 12) * 10 + get_byte(b, 13) * 5 + get_byte(b, 14) * 8 + get_byte(b, 15) * 4
                   + get_byte(b, 16) * 2 - 4800, 11) + 1, 1)
                   = substr(idn, 18, 1)
               ELSE false END AS check_ok
        FROM (
            SELECT *, idn ~ '^[0-9]{{17}}[0-9X]$' AS well_formed, convert_to(idn, 'UTF8') AS b
            FROM (
                SELECT ord, cardinality(c) AS width, upper({id_number}) AS idn, {name} AS name,
                       {village} AS village, {phone} AS phone, {household_no} AS household_no,
                       {sex} AS sex_cell, {birth_date} AS birth_cell
                FROM (SELECT ord, string_to_array(line, ',') AS c FROM import_person_lines WHERE line <> '' OFFSET 0
                     ) AS split
                OFFSET 0  -- fences (here and below): each value is worked out once, not once per use
            ) AS cells
            OFFSET 0
        ) AS formed
        OFFSET 0
    ) AS parts
    OFFSET 0
) AS dated
"""

# One statement: the checked rows, each joined to its village in scope (the village's
# township; the ID's first six digits against the village's county, from its path); the verdict
# over all of them — rows, bad rows (a rule broken, a village unknown or out of scope), distinct
# IDs, whether any is registered already; and, only when the verdict lets it (the INSERT's gate,
# worked out once before its first row), the rows written as ``write`` writes them (ids drawn in
# file order) and their ``+`` history from the rows the INSERT returns.
_SERVER_STATEMENT = """
WITH r AS MATERIALIZED (
    SELECT d.*, v.id AS village_id, v.township AS township_id, left(split_part(v.path, '/', 3), 6) AS county
    FROM ({rows}) AS d
    LEFT JOIN ({villages}) AS v (code, id, township, path) ON v.code = d.village
),
verdict AS MATERIALIZED (
    SELECT count(*) AS total, count(*) FILTER (WHERE ok IS NOT TRUE OR village_id IS NULL) AS bad,
           count(DISTINCT idn) AS distinct_ids,
           EXISTS (SELECT 1 FROM r AS x JOIN members_person AS p ON p.id_number = x.idn) AS taken
    FROM r
),
ins AS (
    INSERT INTO members_person (id_number, name, sex, birth_date, village_id, township_id, phone, household_no,
                                id_outside_county, created_at)
    SELECT r.idn, r.name, r.sex, r.birth, r.village_id, r.township_id, r.phone, r.household_no,
           left(r.idn, 6) <> r.county, %s
    FROM r
    WHERE (SELECT total >= %s AND bad = 0 AND distinct_ids = total AND NOT taken FROM verdict)
    ORDER BY r.ord
    RETURNING *
),
hist AS ({history})
SELECT total, bad, distinct_ids, taken, (SELECT count(*) FROM ins) FROM verdict
"""


# ── enrollments ───────────────────────────────────────────────────────────────────────────

class _PersonRef(NamedTuple):
    """What the enrolment rules read of a person (no model instance per row)."""

    pk: int
    id_number: str
    birth_date: date
    township_id: int


class _EnrolmentRow:
    """A new enrolment validated in memory: ``Enrollment`` field values by attribute.

    Rows alike share one ``fields`` dict and one ``values`` tuple (the columns after
    ``person_id``, in ``_ENROLMENT_COLUMNS`` order): a row costs one small object, and writing
    it one tuple."""

    __slots__ = ("person", "person_id", "year", "scheme", "fields", "values")

    def __init__(self, person, fields: dict, values: tuple | None = None):
        self.person = person
        self.person_id = person.pk
        self.year = fields["year"]
        self.scheme = fields["scheme"]
        self.fields = fields
        self.values = values if values is not None else _row_values(fields)

    def __getattr__(self, name):
        if name == "fields":  # not set yet (copy, pickle)
            raise AttributeError(name)
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def lump_sum_id(self):
        lump_sum = self.fields["lump_sum"]
        return lump_sum.pk if lump_sum is not None else None

    def replace(self, **changes) -> None:
        """Change some fields of this row alone (its shared dict is copied first)."""
        self.fields = {**self.fields, **changes}
        self.values = _row_values(self.fields)


class _Held(NamedTuple):
    """An enrolment already registered: what the rules read of it (no model instance per row)."""

    person_id: int
    year: int
    scheme: str
    employee_status: str
    paid_on: date
    amount: Decimal
    active: bool
    waiting_period: bool
    had_fund_payment: bool


_LOOK_UP_CHUNK = 50_000  # persons a look-up statement asks for (the whole file's, chunk by chunk)
_LOOK_UP_SQL = """
SELECT p.id, p.id_number, p.birth_date, p.township_id, e.year, e.scheme, e.employee_status, e.paid_on, e.amount,
       e.active, e.waiting_period, e.had_fund_payment
FROM members_person AS p LEFT JOIN members_enrollment AS e ON e.person_id = p.id
WHERE p.id_number = ANY(%s::text[])
"""

def scope_narrows(actor) -> bool:
    """Whether ``actor`` is a member of staff confined to part of the jurisdiction (a job or
    command without a user, or bureau-wide staff, imports for the whole jurisdiction)."""
    if not getattr(actor, "is_authenticated", False):
        return False
    return actor.role == Role.TOWNSHIP_AGENT or user_scope_region(actor) is not None


def in_scope(qs, actor):
    """``qs`` (persons or regions) narrowed to what ``actor`` may touch (as ``scope_narrows`` says)."""
    return scope_queryset(qs, actor) if scope_narrows(actor) else qs


_ENROLMENT_COLUMNS = ("person_id", "year", "scheme", "employee_status", "paid_on", "amount", "benefit_start",
                      "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap", "active", "via",
                      "contribution_base", "subsidy_amount", "newborn", "break_years", "lump_sum_id", "policy_version")
_ROW_FIELDS = tuple("lump_sum" if c == "lump_sum_id" else c for c in _ENROLMENT_COLUMNS[1:])
# What ``check_file`` recomputes for a person's later years in the file (history-dependent).
_RECOMPUTED = ("benefit_start", "benefit_end", "waiting_period", "continuous_years", "break_years",
               "critical_illness_cap", "newborn", "amount", "policy_version")
_NO_HISTORY: dict = {}  # shared by the rows of persons with no earlier year (never mutated)


def _row_values(fields: dict) -> tuple:
    values = tuple(fields[c] for c in _ROW_FIELDS)
    lump_sum = fields["lump_sum"]
    if lump_sum is None:
        return values
    i = _ROW_FIELDS.index("lump_sum")
    return values[:i] + (lump_sum.pk,) + values[i + 1:]


@register
class EnrollmentImporter(BulkImporter):
    name = "enrollments"
    verbose_name = "年度参保"
    columns = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]
    example = {"person": "420302197005060012", "year": 2026, "scheme": "resident", "paid_on": "2025-12-20",
               "amount": "380.00", "via": "window"}
    required = {"person", "year", "scheme", "paid_on"}
    header_aliases = {"公民身份号码": "person", "身份证号": "person", "参保年度": "year", "险种": "scheme",
                      "人员状态": "employee_status", "缴费日期": "paid_on", "缴费金额": "amount",
                      "缴费基数": "contribution_base", "参保渠道": "via"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cache = PolicyCache()
        self.persons: dict[str, _PersonRef] = {}
        self.existing: dict[tuple[int, int, str], _Held] = {}
        self.active_other: dict[tuple[int, int], str] = {}
        self.histories: dict[int, dict[int, rules.PriorYear]] = {}
        self.subsidies: dict[tuple[int, int], Decimal] = {}
        self.subsidies_asked: set[tuple[int, int]] = set()  # (person, year) pairs looked up
        self.file_years: dict[str, set[int]] = defaultdict(set)
        self.townships: dict[int, Region] = {}
        self.policies: dict[tuple[int, int, str, str], services.EnrolmentPolicy] = {}
        self.collection_starts: dict[int, date] = {}  # by id() of a policy held in self.policies
        self.computed: dict[tuple, tuple[dict, tuple]] = {}  # enrolment_fields of rows alike (see clean_row)
        self.recomputed: dict[tuple, dict] = {}  # check_file's recomputation of rows alike (see _alike)
        self.replaced: dict[tuple[int, int], tuple] = {}  # their fields once changed (see _replace)
        self.parsed: dict[tuple, tuple] = {}  # the cells of rows alike, parsed once (see _cells)
        self.idns: dict[Any, str] = {}  # normalised ID number by cell
        self.whole_file = False  # the file's look-ups done before the batches (``_look_up_file``)
        self.pending: list | None = None  # the new rows, for write's re-check (``_recheck_years_before``)

    def _idn(self, row) -> str:
        cell = row.get("person")
        try:
            return self.idns[cell]
        except KeyError:
            idn = self.idns[cell] = normalise_id_number(_text(row, "person"))
            return idn
        except TypeError:  # an unhashable cell
            return normalise_id_number(_text(row, "person"))

    def run(self, rows, **kwargs):
        rows = list(rows)
        # The whole file's look-ups too, not only the checks and the write (``BulkImporter.run``).
        with collector_paused(len(rows) >= COLLECTOR_PAUSE_MIN):
            return self._run_paused(rows, **kwargs)

    def _run_paused(self, rows, **kwargs):
        self.actor = kwargs.get("actor") or self.actor  # (the look-ups below are scoped to it)
        rows = self._map_headers(rows)
        file_years = self.file_years
        idns = [self._idn(row) for row in rows]
        for row, idn in zip(rows, idns):  # continuity sees the file's other years of the same person
            year = _text(row, "year")
            if year.isdigit():
                file_years[idn].add(int(year))
        self.whole_file = False
        self.pending = None
        if connection.vendor == "postgresql" and rows:
            self._look_up_file(rows, idns)
        return super().run(rows, **kwargs)

    def _look_up_file(self, rows, idns) -> None:
        """On PostgreSQL, what ``prepare`` loads batch by batch, for the whole file at once
        (the rows are only written once every row is checked, so the batches would read the
        same): one statement per ``_LOOK_UP_CHUNK`` persons instead of one per batch, and
        the subsidies of every (person, year) the file names."""
        known = set(self.persons)
        keys = [i for i in dict.fromkeys(idns) if i not in known]  # file order, each once
        for lo in range(0, len(keys), _LOOK_UP_CHUNK):
            self._hold(*self._look_up_pg(keys[lo:lo + _LOOK_UP_CHUNK]))
        self._load_subsidies(rows, idns)
        self.whole_file = True

    def _load_subsidies(self, rows, idns) -> None:
        """The confirmed subsidy of every (person, year) the rows name and no earlier batch
        asked for — one query per year.  (A person's later year in a later batch is asked
        for there: looking up only the persons a batch met first left that year at 0.)"""
        persons, asked = self.persons, self.subsidies_asked
        wanted: dict[int, set[int]] = defaultdict(set)
        for row, idn in zip(rows, idns):
            person = persons.get(idn)
            year = _text(row, "year")
            if person is not None and year.isdigit() and (person.pk, int(year)) not in asked:
                wanted[int(year)].add(person.pk)
        for year, pids in wanted.items():
            asked.update((pid, year) for pid in pids)
            for pid, amount in services.confirmed_subsidies(pids, year).items():
                self.subsidies[(pid, year)] = amount

    def prepare(self, rows):
        if self.whole_file:
            return  # (``_look_up_file`` has loaded it)
        ids = {self._idn(r) for r in rows} - set(self.persons)
        self._hold(*self._look_up(ids))
        self._load_subsidies(rows, [self._idn(r) for r in rows])

    def _hold(self, found: list[_PersonRef], enrolments: list[_Held]) -> None:
        """Keep what a look-up found: persons, their townships, enrolments and histories —
        of the persons in the actor's scope only (the others read as not registered)."""
        if found and scope_narrows(self.actor):
            allowed = set(in_scope(Person.objects.filter(pk__any={p.pk for p in found}), self.actor)
                          .values_list("pk", flat=True))
            found = [p for p in found if p.pk in allowed]
            enrolments = [e for e in enrolments if e.person_id in allowed]
        self.persons.update({p.id_number: p for p in found})
        missing = {p.township_id for p in found} - set(self.townships)
        if missing:
            self.townships.update({r.pk: r for r in Region.objects.filter(pk__in=missing)})
        histories = self.histories
        for e in enrolments:
            self.existing[(e.person_id, e.year, e.scheme)] = e
            if e.active:
                self.active_other[(e.person_id, e.year)] = e.scheme
            selectors.add_prior_year(histories.setdefault(e.person_id, {}), e.year, e.waiting_period,
                                     e.had_fund_payment)

    @staticmethod
    def _look_up(ids) -> tuple[list[_PersonRef], list[_Held]]:
        """The batch's persons (only what the rules read) and their enrolments of any year."""
        # Keys go as sets: Django walks a list value element by element before the lookup sees it.
        found = [_PersonRef(*values) for values in Person.objects.filter(id_number__any=ids).values_list(
            "id", "id_number", "birth_date", "township_id")]
        enrolments = [_Held(*values) for values in Enrollment.objects.filter(
            person_id__any={p.pk for p in found}).values_list(*_Held._fields)] if found else []
        return found, enrolments

    @staticmethod
    def _look_up_pg(ids) -> tuple[list[_PersonRef], list[_Held]]:
        """``_look_up`` in one statement: the persons joined with their enrolments, the keys
        sent as one array literal (no ORM query compiled per batch)."""
        with connection.cursor() as cursor:
            cursor.execute(_LOOK_UP_SQL, [array_literal(list(ids))])
            rows = cursor.fetchall()
        found, seen, enrolments = [], set(), []
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                found.append(_PersonRef(*row[:4]))
            if row[4] is not None:
                enrolments.append(_Held(row[0], *row[4:]))
        return found, enrolments

    def policy(self, person, year, scheme, status):
        """The enrolment policy, worked out once per (township, year, scheme, status) of the file;
        ``None`` when the row's scheme or status is invalid (``enrollment_build`` reports it)."""
        key = (person.township_id, year, scheme, status)
        found = self.policies.get(key)
        if found is None:
            if scheme not in services.SCHEMES or (scheme == Scheme.EMPLOYEE and status not in services.EMPLOYEE_STATUSES) \
                    or (scheme == Scheme.RESIDENT and status) or not isinstance(year, int) or not 1990 <= year <= 2100:
                return None
            snap = self.cache.get(self.townships[person.township_id], date(year, 1, 1))
            found = self.policies[key] = services.enrolment_policy(snap, scheme, status)
        return found

    @staticmethod
    def _parse(row) -> tuple:
        """The row's cells other than the person: (errors, year, scheme, paid_on, amount, base,
        via, employee_status)."""
        errors: dict[str, list[str]] = {}
        year = _int(row, "year", errors)
        scheme = _text(row, "scheme")
        paid_on = _date(row, "paid_on", errors)
        amount = _decimal(row, "amount", errors)
        base = _decimal(row, "contribution_base", errors)
        via = _text(row, "via") or EnrollmentVia.IMPORT
        return errors, year, scheme, paid_on, amount, base, via, _text(row, "employee_status")

    def _cells(self, row) -> tuple:
        """``_parse`` once per distinct set of cells (a file's rows mostly share their year,
        scheme, date and amount); cells are told apart by type too (``1 == 1.0 == True``)."""
        get = row.get
        cells = (get("year"), get("scheme"), get("paid_on"), get("amount"), get("contribution_base"), get("via"),
                 get("employee_status"))
        key = (cells, tuple(map(type, cells)))
        try:
            return self.parsed[key]
        except KeyError:
            parsed = self.parsed[key] = self._parse(row)
            return parsed
        except TypeError:  # an unhashable cell
            return self._parse(row)

    def clean_row(self, row):
        idn = self._idn(row)
        person = self.persons.get(idn)
        cell_errors, year, scheme, paid_on, amount, base, via, status = self._cells(row)
        if person is None or cell_errors:
            errors: dict[str, list[str]] = {}
            if person is None:
                errors["person"] = [_("参保人 %(id)s 不存在或不在您的辖区。") % {"id": idn}]
            for field, messages in cell_errors.items():
                errors[field] = list(messages)
            raise ValidationError(errors)
        pk = person.pk
        current = self.existing.get((pk, year, scheme))
        if current is not None:
            same = current.paid_on == paid_on and (amount is None or current.amount == amount) and \
                current.employee_status == status
            if not same:
                raise ValidationError({"year": [_("该人员本年度已参加此险种,且缴费信息不同;更正请到窗口办理。")]})
            return ("unchanged", current)
        other = self.active_other.get((pk, year))
        if other is not None and other != scheme:
            raise ValidationError({"scheme": [_("该人员本年度已有有效的其他险种参保;转换险种请到窗口办理。")]})
        history = self.histories.get(pk)
        earlier = [y for y in self.file_years.get(idn, ()) if y < (year or 0)]
        if history is None and not earlier:
            history = _NO_HISTORY
        else:
            history = dict(history or {})
            for y in earlier:
                history.setdefault(y, rules.PriorYear(y))
        policy = self.policy(person, year, scheme, status)
        subsidy = self.subsidies.get((pk, year), ZERO) if scheme == Scheme.RESIDENT else ZERO
        # The derived fields depend on the person only through the birth date, and on it only
        # when the person was born on or after the payment or the collection period's start
        # (newborn rule, "paid before birth"): rows alike in everything else are computed once.
        key = self._alike(person, policy, year, scheme, status, paid_on, amount, base, via, subsidy, history)
        if key is not None:
            found = self.computed.get(key)
            if found is not None:
                return ("new", _EnrolmentRow(person, *found), row)
        fields = services.enrollment_fields(
            person=person, year=year, scheme=scheme, paid_on=paid_on, employee_status=status,
            amount=amount, contribution_base=base, via=via, history=history, policy=policy, subsidy=subsidy,
        )
        del fields["person"]  # a row's person is its own (rows alike share their fields)
        e = _EnrolmentRow(person, fields)
        if key is not None:
            self.computed[key] = (fields, e.values)
        return ("new", e, row)

    def _born(self, person, policy, year, paid_on):
        """The person's birth date where ``enrollment_fields`` reads it (born on or after the
        payment or the collection period's start: the newborn rules), else ``None``."""
        start = self.collection_starts.get(id(policy))
        if start is None:
            start = self.collection_starts[id(policy)] = rules.CollectionPeriod.for_year(
                year, policy.collection_start, policy.collection_end).start
        birth = person.birth_date
        return None if birth < start and birth <= paid_on else birth

    def _alike(self, person, policy, year, scheme, status, paid_on, amount, base, via, subsidy, history):
        """The key of rows whose derived fields are the same (``None`` without a policy).

        ``enrollment_fields`` depends on the person only through the birth date, and on it only
        when the person was born on or after the payment or the collection period's start
        (newborn rule, "paid before birth"); everything else it reads is in the key."""
        if policy is None:
            return None
        born = self._born(person, policy, year, paid_on)
        return (id(policy), year, scheme, status, paid_on, amount, base, via, subsidy, born,
                tuple(sorted(history.items())) if history else ())

    def check_file(self, rows, cleaned):
        errors, seen, schemes = [], {}, {}
        several = object()  # (person, year) seen with more than one scheme
        first_new: dict[int, tuple[int, tuple]] = {}
        multi: dict[int, list[tuple[int, tuple]]] = {}
        for number, item in cleaned:
            e = item[1]
            pid, year, scheme = e.person_id, e.year, e.scheme
            key = (pid, year, scheme)
            if key in seen:
                errors.append(RowError(number, "year", _("与第 %(row)s 行重复。") % {"row": seen[key]}))
            seen[key] = number
            had = schemes.get((pid, year))
            if had is None:
                schemes[(pid, year)] = scheme
            elif had is several or had != scheme:
                schemes[(pid, year)] = several
                errors.append(RowError(number, "scheme", _("同一人员同一年度在文件中有两个险种。")))
            if item[0] == "new":
                if pid in multi:
                    multi[pid].append((number, item))
                elif pid in first_new:
                    multi[pid] = [first_new[pid], (number, item)]
                else:
                    first_new[pid] = (number, item)
        if errors:
            return errors
        self.pending = [(number, item) for number, item in cleaned if item[0] == "new"]  # see write
        # Persons with several new years in the file: recompute in year order, so that each
        # year's continuity, waiting period and cap see the years before it exactly.
        for pid in first_new:  # in the file's order of each person's first new row
            items = multi.get(pid)
            if items is None:
                continue
            history = dict(self.histories.get(pid, {}))
            for number, (_kind, e, row) in sorted(items, key=lambda it: it[1][1].year):
                amount = _decimal(row, "amount", {})
                policy = self.policy(e.person, e.year, e.scheme, e.employee_status)
                # Persons alike (same years, payments and policies) get the same recomputation:
                # worked out once (a demo's persons mostly have three years in the file).
                key = self._alike(e.person, policy, e.year, e.scheme, e.employee_status, e.paid_on, amount,
                                  e.contribution_base, e.via, e.subsidy_amount, history)
                changes = self.recomputed.get(key) if key is not None else None
                if changes is None:
                    try:
                        fresh = services.enrollment_fields(
                            person=e.person, year=e.year, scheme=e.scheme, paid_on=e.paid_on,
                            employee_status=e.employee_status, amount=amount,
                            contribution_base=e.contribution_base, via=e.via, history=history,
                            policy=policy, subsidy=e.subsidy_amount)
                    except ValidationError as exc:
                        errors.extend(RowError(number, f, m) for f, ms in exc.message_dict.items() for m in ms)
                        continue
                    changes = {f: fresh[f] for f in _RECOMPUTED}
                    if key is not None:
                        self.recomputed[key] = changes
                self._replace(e, changes)
                history[e.year] = rules.PriorYear(e.year, e.waiting_period, False)
        return errors

    def _replace(self, e: _EnrolmentRow, changes: dict) -> None:
        """``e.replace(**changes)``, with rows alike (the same fields and the same changes)
        sharing the resulting dict and value tuple, as ``clean_row``'s rows alike do.  The
        entry keeps both inputs alive, so their ids cannot be reused while it exists."""
        key = (id(e.fields), id(changes))
        hit = self.replaced.get(key)
        if hit is None:
            fields = {**e.fields, **changes}
            hit = self.replaced[key] = (e.fields, changes, fields, _row_values(fields))
        e.fields, e.values = hit[2], hit[3]

    def _recheck_years_before(self) -> None:
        """Inside the write's transaction, before the first row is written: lock the enrolments
        of the year before each new resident year (``enrollment_years_before_lock``, one
        statement for the file, id order) and work out again the caps of the persons whose
        fund-payment flag changed since the look-up (a settlement committed meanwhile; rare).
        A settlement marking that year later waits for this import and then sees its rows."""
        pending, self.pending = self.pending, None
        if not pending:
            return
        new_keys = {(e.person_id, e.year) for _n, (_k, e, _row) in pending}
        wanted = {(e.person_id, e.year - 1) for _n, (_k, e, _row) in pending
                  if e.scheme == Scheme.RESIDENT and (e.person_id, e.year - 1) not in new_keys}
        fresh = services.enrollment_years_before_lock(wanted)
        histories, stale = self.histories, set()
        for pid, year in wanted:
            had = histories.get(pid, {}).get(year)
            now = fresh.get((pid, year))
            if (had.had_fund_payment if had else None) != (now.had_fund_payment if now else None):
                stale.add(pid)
                if now is not None:
                    histories.setdefault(pid, {})[year] = now
        if not stale:
            return
        rows_of: dict[int, list] = defaultdict(list)
        for _n, (_kind, e, row) in pending:
            if e.person_id in stale:
                rows_of[e.person_id].append((e, row))
        for pid, items in sorted(rows_of.items()):  # as check_file does, in year order
            history = dict(histories.get(pid, {}))
            for y in self.file_years.get(items[0][0].person.id_number, ()):
                history.setdefault(y, rules.PriorYear(y))
            for e, row in sorted(items, key=lambda it: it[0].year):
                if e.scheme == Scheme.RESIDENT:
                    fields = services.enrollment_fields(
                        person=e.person, year=e.year, scheme=e.scheme, paid_on=e.paid_on,
                        employee_status=e.employee_status, amount=_decimal(row, "amount", {}),
                        contribution_base=e.contribution_base, via=e.via, history=history,
                        policy=self.policy(e.person, e.year, e.scheme, e.employee_status), subsidy=e.subsidy_amount)
                    if fields["critical_illness_cap"] != e.critical_illness_cap:
                        e.replace(critical_illness_cap=fields["critical_illness_cap"])
                history[e.year] = rules.PriorYear(e.year, e.waiting_period, False)

    def write(self, cleaned, *, actor=None):
        if self.pending:
            self._recheck_years_before()
        new = [item[1] for item in cleaned if item[0] == "new"]
        # Rows alike share their value tuple: on PostgreSQL each distinct one is sent once and
        # the server writes the rows and their history in one statement.
        insert_shared_rows_audited(Enrollment, "person_id", [e.person_id for e in new], _ENROLMENT_COLUMNS[1:],
                                   [e.values for e in new], actor=actor, reason=_("导入年度参保"))
        employees = {e.person_id: e.paid_on for e in new if e.scheme == Scheme.EMPLOYEE}
        if employees:
            have = set(PersonalAccount.objects.filter(person_id__any=set(employees)).values_list("person_id", flat=True))
            bulk_create_audited([PersonalAccount(person_id=pid, opened_on=on) for pid, on in employees.items()
                                 if pid not in have], PersonalAccount, actor=actor, reason=_("开设个人账户"))
        return len(new), 0, len(cleaned) - len(new)


_FAST_WRITE_CHUNK = 200_000  # rows ``enrol_new_file`` writes a statement


def enrol_new_file(rows, *, actor=None) -> tuple[int, int] | None:
    """What ``EnrollmentImporter().run`` writes for a file of new enrolments of persons with no
    enrolment yet, for a caller that has the rows as values already (the demo): each row is
    ``(person, year, scheme, employee_status, paid_on, contribution_base)`` with ``person`` a
    ``_PersonRef``, ``via`` the import's, the amount what is due.

    The same rows, ids in row order, the same history rows and personal accounts: every
    person's years computed in year order by ``services.enrollment_fields`` (what
    ``check_file`` does for a person with several years in a file), each distinct computation
    once — rows alike (``EnrollmentImporter._alike``, keyed by the policy's values rather than
    its township) share it — and written by ``insert_shared_rows_audited``.  Returns
    ``(enrolments, accounts opened)``, or ``None`` (nothing written) when any of the persons
    has an enrolment already or a row breaks a rule: the caller then runs the importer, which
    reports by row number."""
    rows = list(rows)
    if not rows:
        return 0, 0
    with collector_paused(len(rows) >= COLLECTOR_PAUSE_MIN):
        return _enrol_new_file(rows, actor)


def _enrol_new_file(rows: list, actor) -> tuple[int, int] | None:
    pids = {r[0].pk for r in rows}
    if Enrollment.objects.filter(person_id__any=pids).exists():
        return None
    helper = EnrollmentImporter(actor=actor)
    townships = {r[0].township_id for r in rows} - set(helper.townships)
    helper.townships.update(Region.objects.in_bulk(townships))
    subsidies: dict[tuple[int, int], Decimal] = {}
    for year in {r[1] for r in rows}:
        subsidies.update(((pid, year), amount) for pid, amount in services.confirmed_subsidies(pids, year).items())
    via = EnrollmentVia.IMPORT
    computed: dict[tuple, tuple[dict, tuple]] = {}
    histories: dict[int, dict[int, rules.PriorYear]] = {}
    out: list[tuple | None] = [None] * len(rows)
    # Each person's rows in year order (the file's order is kept for the write).
    for i in sorted(range(len(rows)), key=lambda i: (rows[i][0].pk, rows[i][1])):
        person, year, scheme, status, paid_on, base = rows[i]
        policy = helper.policy(person, year, scheme, status)
        if policy is None:
            return None
        history = histories.get(person.pk, _NO_HISTORY)
        subsidy = subsidies.get((person.pk, year), ZERO) if scheme == Scheme.RESIDENT else ZERO
        born = helper._born(person, policy, year, paid_on)
        key = (policy, year, scheme, status, paid_on, base, subsidy, born,
               tuple(sorted(history.items())) if history else ())
        found = computed.get(key)
        if found is None:
            try:
                fields = services.enrollment_fields(
                    person=person, year=year, scheme=scheme, paid_on=paid_on, employee_status=status,
                    amount=None, contribution_base=base, via=via, history=history, policy=policy, subsidy=subsidy)
            except ValidationError:
                return None
            del fields["person"]
            found = computed[key] = (fields, _row_values(fields))
        fields = found[0]
        if history is _NO_HISTORY:
            history = histories[person.pk] = {}
        history[year] = rules.PriorYear(year, fields["waiting_period"], False)
        out[i] = found
    with transaction.atomic():
        if connection.vendor == "postgresql":  # (each statement's RETURNING rows kept in memory, not spilled)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '256MB'")
        for lo in range(0, len(rows), _FAST_WRITE_CHUNK):  # (a city's file in statements of bounded size)
            insert_shared_rows_audited(Enrollment, "person_id", [r[0].pk for r in rows[lo:lo + _FAST_WRITE_CHUNK]],
                                       _ENROLMENT_COLUMNS[1:], [o[1] for o in out[lo:lo + _FAST_WRITE_CHUNK]],
                                       actor=actor, reason=_("导入年度参保"))
        # Accounts as ``write`` opens them, batch by batch: a person's first batch with an
        # employee row opens it, on the payment date of their last such row in that batch.
        have = set(PersonalAccount.objects.filter(person_id__any=pids).values_list("person_id", flat=True))
        opened = 0
        size = EnrollmentImporter.batch_size
        for lo in range(0, len(rows), size):
            employees = {r[0].pk: r[4] for r in rows[lo:lo + size] if r[2] == Scheme.EMPLOYEE}
            new = [PersonalAccount(person_id=pid, opened_on=on) for pid, on in employees.items() if pid not in have]
            have.update(employees)
            bulk_create_audited(new, PersonalAccount, actor=actor, reason=_("开设个人账户"))
            opened += len(new)
    return len(rows), opened


# ── identities ────────────────────────────────────────────────────────────────────────────


@register
class IdentityImporter(BulkImporter):
    name = "identities"
    verbose_name = "困难身份"
    columns = ["person", "kind", "valid_from", "valid_to", "source"]
    example = {"person": "420302197005060012", "kind": "subsistence", "valid_from": "2026-01-01",
               "valid_to": "2026-12-31", "source": "civil_affairs"}
    required = {"person", "kind", "valid_from", "source"}
    header_aliases = {"公民身份号码": "person", "身份证号": "person", "身份类别": "kind", "有效期起": "valid_from",
                      "有效期止": "valid_to", "来源": "source"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.persons: dict[str, int] = {}
        self.held: dict[tuple[int, str], list[Identity]] = defaultdict(list)

    def prepare(self, rows):
        ids = {normalise_id_number(_text(r, "person")) for r in rows} - set(self.persons)
        found = dict(in_scope(Person.objects.filter(id_number__any=list(ids)), self.actor)
                     .values_list("id_number", "pk"))
        self.persons.update(found)
        for ident in Identity.objects.filter(person_id__any=list(found.values())):
            self.held[(ident.person_id, ident.kind)].append(ident)

    def clean_row(self, row):
        errors: dict[str, list[str]] = {}
        idn = normalise_id_number(_text(row, "person"))
        pid = self.persons.get(idn)
        if pid is None:
            errors["person"] = [_("参保人 %(id)s 不存在或不在您的辖区。") % {"id": idn}]
        valid_from = _date(row, "valid_from", errors)
        valid_to = _date(row, "valid_to", errors, required=False)
        kind, source = _text(row, "kind"), _text(row, "source")
        try:
            services.identity_validate(kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)
        except ValidationError as exc:
            _merge(errors, exc)
        if errors:
            raise ValidationError(errors)
        current = None
        for held in self.held.get((pid, kind), []):
            if held.valid_from == valid_from:
                current = held
            elif rules.periods_overlap(valid_from, valid_to, held.valid_from, held.valid_to):
                raise ValidationError({"valid_from": [_("与该人员已有的同类身份(%(from)s 起)期间重叠。")
                                                      % {"from": held.valid_from}]})
        return (pid, kind, valid_from, valid_to, source, current)

    def check_file(self, rows, cleaned):
        errors = []
        by_key: dict[tuple[int, str], list[tuple[int, date, date | None]]] = defaultdict(list)
        for number, (pid, kind, start, end, _source, _current) in cleaned:
            for other_number, o_start, o_end in by_key[(pid, kind)]:
                if rules.periods_overlap(start, end, o_start, o_end):
                    errors.append(RowError(number, "valid_from", _("与第 %(row)s 行的同类身份期间重叠。")
                                           % {"row": other_number}))
            by_key[(pid, kind)].append((number, start, end))
        return errors

    def write(self, cleaned, *, actor=None):
        new, changed = [], []
        for pid, kind, start, end, source, current in cleaned:
            if current is None:
                new.append((pid, kind, start, end, source))
            elif (current.valid_to, current.source) != (end, source):
                current.valid_to, current.source = end, source
                changed.append(current)
        insert_rows_audited(Identity, ("person_id", "kind", "valid_from", "valid_to", "source"), new,
                            actor=actor, reason=_("导入困难身份"))
        bulk_update_audited(changed, Identity, ["valid_to", "source"], actor=actor, reason=_("导入困难身份"))
        return len(new), len(changed), len(cleaned) - len(new) - len(changed)


def identity_list_rows(rows: list[dict[str, Any]]) -> tuple[list[services.IdentityListRow], list[RowError]]:
    """Turn a department's list (columns person/公民身份号码, kind/身份类别, valid_from, valid_to)
    into rows for ``services.identity_list_apply``; bad dates are reported by row number."""
    aliases = IdentityImporter.header_aliases
    out, errors = [], []
    for i, raw in enumerate(rows, start=2):
        row = {aliases.get(k, k): v for k, v in raw.items()}
        errs: dict[str, list[str]] = {}
        start = _date(row, "valid_from", errs)
        end = _date(row, "valid_to", errs, required=False)
        if errs:
            errors.extend(RowError(i, f, m) for f, ms in errs.items() for m in ms)
            continue
        out.append(services.IdentityListRow(i, _text(row, "person"), _text(row, "kind"), start, end))
    return out, errors

