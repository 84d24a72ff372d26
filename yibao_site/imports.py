"""Fast, all-or-nothing tabular imports shared by the admin and ``manage.py import_data``.

An importer validates a whole file before it writes anything:

1. ``prepare(rows)`` looks up every key the file references in a few set-based queries
   (existing persons by ID number, regions by code…), batch by batch, never row by row;
2. ``clean_row(row)`` validates one row in memory with the same rules the API uses and
   returns whatever ``write`` needs, or raises ``ValidationError`` (a dict for field errors);
3. only if no row failed, ``write(cleaned, actor=…)`` writes in bulk inside one transaction
   and returns how many rows were created, updated and left unchanged — so re-importing the
   same file changes nothing.

A bad file gets a report numbered by the file's own rows (the header is row 1).

``run_file(data, filename)`` is the door of ``import_data`` and the background jobs: it first
offers a plain CSV (``plain_csv``) to the importer's ``server_side`` (PostgreSQL checks and
writes it itself; the persons importer does), which may decline, and otherwise reads the file
and runs the steps above.

The same class is a django-import-export ``Resource``: its ``import_data`` runs the steps
above and answers with an import-export ``Result``, so the admin's import page (upload,
preview, confirm) drives exactly the code the command runs.
"""
from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from import_export import resources
from import_export.results import Result, RowResult

from .collector import collector_paused  # noqa: F401 (importers use it from here)
from .inputs import _CONTROL as _CONTROL_CHARS
from .inputs import FORMULA_PREFIXES, check_cell, normalise_code_like

REGISTRY: dict[str, type["BulkImporter"]] = {}
PREVIEW_ROWS = 200
COLLECTOR_PAUSE_MIN = 1000  # rows from which an import runs with the cyclic collector paused


def register(importer: type["BulkImporter"]) -> type["BulkImporter"]:
    """Class decorator: make ``importer`` available to ``import_data`` by its ``name``."""
    REGISTRY[importer.name] = importer
    return importer


@dataclass(frozen=True)
class RowError:
    row: int  # the file's row number; the header is row 1
    field: str
    message: str

    def __str__(self) -> str:
        where = _("第 %(row)s 行") % {"row": self.row} if self.row else _("文件")
        return f"{where} {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class ImportReport:
    resource: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.ok:
            return _("%(resource)s:共 %(total)s 行,%(bad)s 处错误,未写入任何数据。") % {
                "resource": self.resource, "total": self.total, "bad": len(self.errors)}
        verb = _("校验通过(试导入,未写入)") if self.dry_run else _("已导入")
        return _("%(resource)s:%(verb)s 共 %(total)s 行:新增 %(created)s,更新 %(updated)s,未变 %(unchanged)s。") % {
            "resource": self.resource, "verb": verb, "total": self.total, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged}


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value
    if isinstance(value, float) and value.is_integer():
        # Spreadsheets turn "2024" into 2024.0; never let a float reach money code.
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return value


def cell_text(row: dict[str, Any], key: str) -> str:
    """The cell ``key`` of ``row`` as stripped text ("" when empty)."""
    value = row.get(key)
    return "" if value is None else str(value).strip()


def cell_date(row: dict[str, Any], key: str, errors: dict, *, required: bool = True) -> date | None:
    """The cell ``key`` as a date (YYYY-MM-DD, YYYY/MM/DD or a spreadsheet date); problems are
    added to ``errors`` under ``key``."""
    value = row.get(key)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(row, key)
    if not text:
        if required:
            errors.setdefault(key, []).append(_("必填。"))
        return None
    try:
        return date.fromisoformat(text.replace("/", "-")[:10])
    except ValueError:
        errors.setdefault(key, []).append(_("日期格式应为 YYYY-MM-DD。"))
        return None


def _bound(name: str, default: int) -> int:
    from django.conf import settings

    return int(getattr(settings, name, default))


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f}"


def check_upload_size(size: int) -> None:
    """Refuse a file larger than ``IMPORT_MAX_BYTES`` before reading it."""
    limit = _bound("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
    if size > limit:
        raise ValidationError(_("文件过大:%(size)s MB,上限 %(limit)s MB。请拆分后分批导入。")
                              % {"size": _mb(size), "limit": _mb(limit)})


def check_xlsx_bounds(data: bytes) -> None:
    """Refuse an XLSX whose unpacked size or compression ratio betrays a zip bomb, before
    openpyxl unpacks anything (the zip directory states every member's size)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ValidationError(_("无法读取 XLSX 文件:%(error)s") % {"error": exc}) from exc
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    limit = _bound("IMPORT_MAX_UNCOMPRESSED_BYTES", 1024 * 1024 * 1024)
    ratio = _bound("IMPORT_MAX_COMPRESSION_RATIO", 100)
    if unpacked > limit or unpacked / packed > ratio:
        raise ValidationError(_("XLSX 文件解压后过大(%(size)s MB,压缩比 %(ratio)s 倍),可能是压缩炸弹,已拒绝。"
                                "上限 %(limit)s MB、%(max_ratio)s 倍。")
                              % {"size": _mb(unpacked), "ratio": round(unpacked / packed), "limit": _mb(limit),
                                 "max_ratio": ratio})


def _too_many_rows(limit: int) -> ValidationError:
    return ValidationError(_("文件行数超过上限 %(limit)s 行。请拆分后分批导入。") % {"limit": f"{limit:,}"})


def check_upload(data: bytes, filename: str | None = None) -> None:
    """Every bound a file must meet before it is parsed: size, unpacked size, rows."""
    check_upload_size(len(data))
    if (filename or "").lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        check_xlsx_bounds(data)
    elif data.count(b"\n") > _bound("IMPORT_MAX_ROWS", 1_000_000) + 1:
        raise _too_many_rows(_bound("IMPORT_MAX_ROWS", 1_000_000))


def estimate_rows(data: bytes, filename: str | None = None) -> int | None:
    """The number of data rows a bounded file holds, without parsing it (``None``: unknown).

    CSV: its line breaks less the header (a quoted cell with a line break counts twice: an
    over-estimate, never an under-estimate).  XLSX: the first sheet's stated dimension, which
    Excel and openpyxl write; a file without one answers ``None``.
    """
    if (filename or "").lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
            dimension = sheet.calculate_dimension()
        except Exception:  # no dimension element, or a broken file (read_table will say which)
            return None
        last = "".join(ch for ch in dimension.split(":")[-1] if ch.isdigit())
        return max(int(last) - 1, 0) if last else None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return max(lines - 1, 0)


def read_table(source: str | Path | bytes | io.IOBase, filename: str | None = None) -> list[dict[str, Any]]:
    """Read a CSV (UTF-8, UTF-8 with BOM or GB18030) or XLSX file into a list of dicts.

    The file is checked against the upload bounds (``check_upload``) before it is parsed.
    """
    if isinstance(source, (str, Path)):
        filename = filename or str(source)
        check_upload_size(Path(source).stat().st_size)
        data = Path(source).read_bytes()
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.read(_bound("IMPORT_MAX_BYTES", 100 * 1024 * 1024) + 1)
    check_upload(data, filename)
    with collector_paused():  # (a list of row dicts, no cycle among them)
        return _parse_table(data, filename)


def _parse_table(data: bytes, filename: str | None) -> list[dict[str, Any]]:
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return _read_xlsx(data)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError(_("无法识别文件编码,请另存为 UTF-8 的 CSV 或 XLSX。"))
    return _read_csv(text)


def _read_csv(text: str) -> list[dict[str, Any]]:
    """What ``csv.DictReader`` gives, keys and cells stripped, in fewer steps per row: a row as
    long as the header is zipped with it; a shorter or longer one goes the DictReader way
    (missing cells ``None``, extra cells as a list under the key "")."""
    reader = csv.reader(io.StringIO(text))
    try:
        fieldnames = next(reader)
    except StopIteration:
        return []
    header = [(k or "").strip() for k in fieldnames]
    width = len(fieldnames)
    strip = str.strip
    out = []
    for row in reader:
        if not row:  # DictReader skips blank rows
            continue
        if len(row) == width:
            out.append(dict(zip(header, map(strip, row))))
        else:
            d = dict(zip(fieldnames, row))
            if width < len(row):
                d[None] = row[width:]
            elif width > len(row):
                for key in fieldnames[len(row):]:
                    d[key] = None
            out.append({(k or "").strip(): _normalise(v) for k, v in d.items()})
    return out


def _read_xlsx(data: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        # data_only=False: a formula cell reads as its formula ("=…") and is refused by the
        # engine, instead of slipping through as its cached value.
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=False).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ValidationError(_("无法读取 XLSX 文件:%(error)s") % {"error": exc}) from exc
    max_rows = _bound("IMPORT_MAX_ROWS", 1_000_000)
    max_cols = _bound("IMPORT_MAX_COLUMNS", 100)
    rows = sheet.iter_rows(values_only=True, max_col=max_cols)
    try:
        header = [str(h).strip() if h is not None else "" for h in next(rows)]
    except StopIteration:
        return []
    while header and not header[-1]:
        header.pop()
    out = []
    for values in rows:
        if values is None or all(v is None or v == "" for v in values):
            continue
        if len(out) >= max_rows:
            raise _too_many_rows(max_rows)
        out.append({h: _normalise("" if v is None else v) for h, v in zip(header, values)})
    return out


class _Column:
    def __init__(self, name: str) -> None:
        self.column_name = name


# What a CSV must hold to be taken server-side (``PlainCSV``): printable ASCII other than the
# double quote and the backslash, the CJK ideographs (basic block and extension A), line feeds.
# Such a file means the same to ``csv.reader`` and to a ``string_to_array(line, ',')`` of each
# line, every cell's ``str.strip()`` is a ``btrim(cell, ' ')``, and the engine's cell screen
# (``_screen_rows``) leaves each cell as it is unless it starts like a formula.
_PLAIN_TEXT = re.compile(r"[^\n\x20\x21\x23-\x5b\x5d-\x7e\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class PlainCSV:
    """A CSV file simple enough for PostgreSQL to split: its header mapped to the importer's
    columns (each known, none twice, the required ones present) and the bytes of its body (one
    row a line, ``\n`` line ends, UTF-8, no quote, backslash or control byte)."""

    columns: tuple[str, ...]
    body: bytes
    lines: int  # line feeds in the body: the rows, blank lines included


def plain_csv(importer: "BulkImporter", data: bytes, filename: str | None = None) -> PlainCSV | None:
    """``data`` as a ``PlainCSV`` for ``importer``, or ``None`` when it is anything else (XLSX,
    GB18030, quotes, tabs, other scripts, a header the importer does not know exactly)."""
    if (filename or "").lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:
        if data.count(b"\r") != data.count(b"\r\n"):
            return None
        data = data.replace(b"\r\n", b"\n")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _PLAIN_TEXT.search(text):
        return None
    header, _sep, body = data.partition(b"\n")
    aliases = {**{c: c for c in importer.columns}, **importer.header_aliases}
    columns = [aliases.get(h.strip()) for h in header.decode("utf-8").split(",")]
    if None in columns or len(set(columns)) != len(columns) or not importer.required <= set(columns):
        return None
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return PlainCSV(tuple(columns), body, body.count(b"\n"))


class BulkImporter(resources.Resource):
    """Base class of every importer (see the module docstring)."""

    name: ClassVar[str] = ""
    verbose_name: ClassVar[str] = ""
    columns: ClassVar[list[str]] = []
    required: ClassVar[set[str]] = set()
    header_aliases: ClassVar[dict[str, str]] = {}  # e.g. {"公民身份号码": "id_number"}
    batch_size: ClassVar[int] = 5000

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.actor = kwargs.get("actor") or kwargs.get("user")

    # ---- to implement ------------------------------------------------------------------
    def prepare(self, rows: list[dict[str, Any]]) -> None:
        """Load, in a few set-based queries, everything ``clean_row`` needs."""

    def clean_row(self, row: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, cleaned: list[Any], *, actor=None) -> tuple[int, int, int]:  # pragma: no cover - abstract
        """Write the cleaned rows in bulk; return (created, updated, unchanged)."""
        raise NotImplementedError

    def check_file(self, rows: list[dict[str, Any]], cleaned: list[tuple[int, Any]]) -> list[RowError]:
        """Cross-row checks (duplicates within the file…); called after every row is clean."""
        return []

    def server_side(self, plain: PlainCSV, *, actor=None,
                    progress: Callable[[str, int, int], None] | None = None) -> ImportReport | None:
        """Import ``plain`` inside PostgreSQL and return the report, or ``None`` to decline (the
        file then takes ``run``, the reference behaviour).  What it writes must be exactly what
        ``run`` writes for the same file; it declines whenever it cannot be sure of that (any
        row ``run`` would refuse, any row it would update)."""
        return None

    # ---- the engine -------------------------------------------------------------------
    def run_file(self, data: bytes, filename: str | None = None, *, dry_run: bool = False, actor=None,
                 progress: Callable[[str, int, int], None] | None = None,
                 on_read: Callable[[int], None] | None = None) -> ImportReport:
        """Import a whole file: the one door of ``manage.py import_data`` and the background jobs.

        On PostgreSQL a plain CSV (``plain_csv``) is first offered to ``server_side``; when it
        declines — or for a dry run, an XLSX, any other file — the file is read (``read_table``,
        which raises ``ValidationError`` for an unreadable one), ``on_read(rows)`` is told how
        many rows it has and ``run`` validates and writes it.  ``self.rows`` keeps the rows read
        (the error report's values; empty when the server took the file)."""
        from django.db import connection

        check_upload(data, filename)
        actor = actor or self.actor
        self.rows: list[dict[str, Any]] = []
        overrides = type(self).server_side is not BulkImporter.server_side
        if overrides and not dry_run and connection.vendor == "postgresql":
            plain = plain_csv(self, data, filename)
            if plain is not None:
                report = self.server_side(plain, actor=actor, progress=progress)
                if report is not None:
                    return report
        self.rows = read_table(data, filename)
        if on_read is not None:
            on_read(len(self.rows))
        return self.run(self.rows, dry_run=dry_run, actor=actor, progress=progress)

    def _map_headers(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        aliases = {**{c: c for c in self.columns}, **self.header_aliases}
        out, keys, renames = [], None, False
        for row in rows:
            if keys is None or row.keys() != keys:  # a file's rows share their header: decide once
                keys = row.keys()
                renames = any(aliases.get(k, k) != k for k in keys)
            # Rows whose keys are already the columns are passed on as they are (never mutated).
            out.append({aliases.get(k, k): v for k, v in row.items()} if renames else row)
        return out

    def run(self, rows: Iterable[dict[str, Any]], *, dry_run: bool = False, actor=None,
            progress: Callable[[str, int, int], None] | None = None) -> ImportReport:
        """Validate every row; if all are good and not ``dry_run``, write them atomically."""
        rows = list(rows)
        with collector_paused(len(rows) >= COLLECTOR_PAUSE_MIN):
            return self._run(rows, dry_run=dry_run, actor=actor, progress=progress)

    def _run(self, rows: list[dict[str, Any]], *, dry_run: bool, actor,
             progress: Callable[[str, int, int], None] | None) -> ImportReport:
        started = time.perf_counter()
        rows = self._map_headers(rows)
        report = ImportReport(resource=self.verbose_name or self.name, total=len(rows), dry_run=dry_run)
        if not rows:
            report.errors.append(RowError(0, "", _("文件中没有数据行。")))
            return report
        missing = [c for c in sorted(self.required) if c not in rows[0]]
        if missing:
            report.errors.append(RowError(1, "", _("缺少列:%(cols)s") % {"cols": ", ".join(missing)}))
            return report
        actor = self.actor = actor or self.actor  # (``prepare`` scopes its look-ups to it)
        # Every cell, whatever the importer: formulas and control characters refused,
        # full-width numbers and codes read as ASCII (inputs.py, the API's rule).
        rows, unsafe = _screen_rows(rows)
        cleaned: list[tuple[int, Any]] = []
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start:start + self.batch_size]
            self.prepare(batch)
            for offset, row in enumerate(batch):
                number = start + offset + 2
                bad = unsafe.get(start + offset)
                if bad:
                    report.errors.extend(RowError(number, k, m) for k, m in bad)
                    continue
                try:
                    cleaned.append((number, self.clean_row(row)))
                except ValidationError as exc:
                    report.errors.extend(_row_errors(number, exc))
            if progress:
                progress("validate", min(start + self.batch_size, len(rows)), len(rows))
        if not report.errors:
            report.errors.extend(self.check_file(rows, cleaned))
        if report.errors or dry_run:
            report.seconds = time.perf_counter() - started
            return report
        try:
            with transaction.atomic():
                values = [c for _, c in cleaned]
                for start in range(0, len(values), self.batch_size):
                    created, updated, unchanged = self.write(values[start:start + self.batch_size], actor=actor)
                    report.created += created
                    report.updated += updated
                    report.unchanged += unchanged
                    if progress:
                        progress("write", min(start + self.batch_size, len(values)), len(values))
        except ValidationError as exc:
            report.created = report.updated = report.unchanged = 0
            report.errors.extend(_row_errors(0, exc))
        except IntegrityError as exc:
            # A concurrent writer took a key between validation and writing: nothing was written.
            report.created = report.updated = report.unchanged = 0
            report.errors.append(write_conflict(exc))
        report.seconds = time.perf_counter() - started
        return report

    # ---- what a clerk reads: Chinese column names, a template to fill in ----------------
    example: ClassVar[dict[str, Any]] = {}  # column → an example value for the template

    @classmethod
    def column_label(cls, column: str) -> str:
        """The column's Chinese header (its first alias), e.g. ``id_number`` → ``公民身份号码``."""
        return next((alias for alias, target in cls.header_aliases.items() if target == column), column)

    @classmethod
    def template_xlsx(cls) -> bytes:
        """A template with Chinese headers, an example row and a sheet explaining each column."""
        from .xlsx import Sheet, workbook_bytes

        labels = [cls.column_label(c) for c in cls.columns]
        data = Sheet(_("数据"), labels, [[cls.example.get(c, "") for c in cls.columns]])
        notes = Sheet(_("填写说明"), [_("列名"), _("是否必填"), _("也可用的列名"), _("示例")])
        for column, label in zip(cls.columns, labels):
            others = [a for a, t in cls.header_aliases.items() if t == column and a != label] + [column]
            notes.rows.append([label, _("必填") if column in cls.required else _("选填"), "、".join(others),
                               cls.example.get(column, "")])
        notes.rows.append([_("说明"), "", _("表头可用中文列名或英文代码;第1行为表头,示例行请删除后再导入。"), ""])
        return workbook_bytes([data, notes])

    # ---- django-import-export's door (the admin) --------------------------------------
    def get_user_visible_fields(self):
        return [_Column(self.column_label(c)) for c in self.columns]

    @classmethod
    def get_display_name(cls):  # import-export calls it on the class (the admin's resource choice)
        return cls.verbose_name or cls.name

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        rows = [{(k or "").strip(): _normalise(v) for k, v in zip(dataset.headers, values)} for values in dataset]
        report = self.run(rows, dry_run=dry_run, actor=kwargs.get("user") or self.actor)
        self.last_report = report
        result = Result()
        labels = [self.column_label(c) for c in self.columns]
        result.diff_headers = labels
        mapped = self._map_headers(rows)
        if not report.ok:
            # The error report: the file's row number, each value under its Chinese column name
            # (in the columns' order, so values sit under their headers), errors by column name.
            by_row: dict[int, dict[str, list[str]]] = {}
            for err in report.errors:
                key = self.column_label(err.field) if err.field in self.columns else (err.field or "__all__")
                by_row.setdefault(err.row, {}).setdefault(key, []).append(err.message)
            for number, errors in sorted(by_row.items()):
                row = mapped[number - 2] if 2 <= number < len(mapped) + 2 else {}
                values = {label: "" if row.get(c) is None else str(row.get(c, "")) for c, label in zip(self.columns, labels)}
                result.append_invalid_row(number, values, ValidationError(errors))
            return result
        for row in mapped[:PREVIEW_ROWS]:
            row_result = RowResult()
            row_result.import_type = RowResult.IMPORT_TYPE_NEW if dry_run else RowResult.IMPORT_TYPE_SKIP
            row_result.diff = [str(row.get(c, "")) for c in self.columns]
            result.append_row_result(row_result)
        result.totals[RowResult.IMPORT_TYPE_NEW] = report.created
        result.totals[RowResult.IMPORT_TYPE_UPDATE] = report.updated
        result.totals[RowResult.IMPORT_TYPE_SKIP] = report.unchanged
        return result


def _screen_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, list[tuple[str, str]]]]:
    """``_unsafe_cells`` and ``_normalised_digits`` of every row in one pass: the rows with
    their digits normalised (unsafe rows as they are) and the unsafe cells by row index.

    An ASCII cell needs no digit normalisation and can only be unsafe as a formula or by a
    control character: two C-level checks; any other cell goes the whole way.
    """
    out, unsafe = [], {}
    control = _CONTROL_CHARS.search
    for i, row in enumerate(rows):
        bad, fixed = [], None
        for key, value in row.items():
            if not isinstance(value, str) or not value:
                continue
            if value.isascii() and not value.startswith(FORMULA_PREFIXES) and not control(value):
                continue  # what check_cell accepts and normalise_code_like returns unchanged
            try:
                check_cell(value)
                normal = normalise_code_like(value)
            except ValidationError as exc:
                bad.append((key, exc.messages[0]))
                continue
            if normal != value:
                fixed = fixed or {}
                fixed[key] = normal
        if bad:
            unsafe[i] = bad
            out.append(row)
        else:
            out.append({**row, **fixed} if fixed else row)
    return out, unsafe


def _unsafe_cells(row: dict[str, Any]) -> list[tuple[str, str]]:
    """Cells refused in every import: formulas, NUL and other control characters."""
    bad = []
    for key, value in row.items():
        if isinstance(value, str) and value:
            try:
                check_cell(value)
                normalise_code_like(value)
            except ValidationError as exc:
                bad.append((key, exc.messages[0]))
    return bad


def _normalised_digits(row: dict[str, Any]) -> dict[str, Any]:
    """Full-width numbers, dates and codes in ASCII (the API's rule); names stay as typed."""
    out = {}
    for key, value in row.items():
        if isinstance(value, str) and value:
            value = normalise_code_like(value)  # _unsafe_cells has refused foreign digits
        out[key] = value
    return out


def write_conflict(exc: IntegrityError) -> RowError:
    """The file-level error of a write that met a key a concurrent writer took meanwhile."""
    return RowError(0, "", _("写入时与已有数据冲突(可能有人同时导入),未写入任何数据:%(error)s")
                    % {"error": str(exc).splitlines()[0][:200]})


def _row_errors(number: int, exc: ValidationError) -> list[RowError]:
    if hasattr(exc, "error_dict"):
        return [RowError(number, "" if f == "__all__" else f, str(m))
                for f, errs in exc.error_dict.items() for e in errs for m in e.messages]
    return [RowError(number, "", str(m)) for m in exc.messages]


def importer_for(name: str) -> type[BulkImporter]:
    _load_importers()
    if name not in REGISTRY:
        raise ValidationError(_("未知的导入资源 %(name)s;可用:%(names)s")
                              % {"name": name, "names": ", ".join(sorted(REGISTRY))})
    return REGISTRY[name]


def _load_importers() -> None:
    """Import every app's ``importers`` module so that its classes register themselves."""
    from importlib import import_module

    from django.apps import apps

    for config in apps.get_app_configs():
        try:
            import_module(f"{config.name}.importers")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.importers":
                raise
