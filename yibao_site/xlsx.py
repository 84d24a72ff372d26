"""Reports as XLSX: one call turns the tables a page shows into a workbook with Chinese
headers, money as numbers formatted ``#,##0.00`` (so Excel sums them) and text cells that
cannot be read as formulas."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from urllib.parse import quote

from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from .formatting import FEN, to_decimal

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
HIGHLIGHT = PatternFill("solid", fgColor="FDE68A")  # a row that needs attention (a laggard)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Sheet:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)
    money_columns: set[int] = field(default_factory=set)  # 0-based columns holding yuan
    highlight_rows: set[int] = field(default_factory=set)  # 0-based indexes into rows, filled yellow


def safe_text(value: str) -> str:
    """A text cell never starts a formula (``=HYPERLINK(…)`` from an imported name)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def workbook_bytes(sheets: list[Sheet]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(title=str(sheet.title)[:31])
        ws.append([str(h) for h in sheet.headers])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for n, row in enumerate(sheet.rows):
            values = []
            for i, value in enumerate(row):
                if i in sheet.money_columns and value not in (None, ""):
                    amount = to_decimal(value)
                    values.append(amount.quantize(FEN) if amount is not None else str(value))
                elif isinstance(value, (int, Decimal)) or value is None:
                    values.append(value)
                else:
                    values.append(safe_text(str(value)))
            ws.append(values)
            if n in sheet.highlight_rows:
                for cell in ws[ws.max_row]:
                    cell.fill = HIGHLIGHT
        for col in sheet.money_columns:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
                cell.number_format = MONEY_FORMAT
        for i, header in enumerate(sheet.headers):
            ws.column_dimensions[ws.cell(row=1, column=i + 1).column_letter].width = max(12, len(str(header)) * 2 + 4)
        ws.freeze_panes = "A2"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_response(filename: str, sheets: list[Sheet]) -> HttpResponse:
    return xlsx_bytes_response(filename, workbook_bytes(sheets))


def xlsx_bytes_response(filename: str, content: bytes) -> HttpResponse:
    """The download of a workbook an app built itself (e.g. streamed in write-only mode)."""
    response = HttpResponse(content, content_type=XLSX_TYPE)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
