"""Pure rules of bank payments: file columns, sign-off, ages, reconciliation arithmetic."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from yibao_site.money import FEN, to_fen  # noqa: F401  (payments.rules.FEN and .to_fen stay importable)

#: Fields a bank file layout may place in a column (field → what it holds).
FILE_FIELDS = ("number", "payee_name", "account_name", "account_number", "bank_name", "amount", "purpose",
               "memo", "payee_code", "batch")

#: The layout shipped with the system (created by migration 0002; admin-editable).
STANDARD_LAYOUT = {
    "code": "standard-csv", "name": "通用代发格式(CSV)", "file_format": "csv", "encoding": "utf-8-sig",
    "columns": [
        {"header": "指令编号", "field": "number"},
        {"header": "收款账号", "field": "account_number"},
        {"header": "收款户名", "field": "account_name"},
        {"header": "开户银行", "field": "bank_name"},
        {"header": "金额", "field": "amount"},
        {"header": "用途", "field": "purpose"},
        {"header": "附言", "field": "memo"},
    ],
}

#: Age buckets (days since the file was sent) of the reconciliation chart.
AGE_BUCKETS = ((0, 1), (2, 3), (4, 7), (8, 15), (16, 30), (31, None))


def signoff_required(total: Decimal, threshold: Decimal | None) -> bool:
    """A batch above the threshold (strictly) needs a second person's approval (分级审批)."""
    return threshold is not None and total > threshold


def pending_overdue(sent_on: date, today: date, days: int) -> bool:
    """An instruction still unconfirmed more than ``days`` days after its file was sent."""
    return (today - sent_on).days > days


def age_bucket(age_days: int) -> str:
    for low, high in AGE_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return f"{low}-{high}" if high is not None else f"{low}+"
    return f"{AGE_BUCKETS[0][0]}-{AGE_BUCKETS[0][1]}"


def balanced(instructed: tuple[int, Decimal], confirmed: tuple[int, Decimal], failed: tuple[int, Decimal],
             pending: tuple[int, Decimal]) -> bool:
    """Instructed = confirmed + failed + pending, in count and in amount."""
    return (instructed[0] == confirmed[0] + failed[0] + pending[0]
            and instructed[1] == confirmed[1] + failed[1] + pending[1])


def column_value(field: str, instruction: dict) -> str:
    value = instruction.get(field, "")
    if isinstance(value, Decimal):
        return f"{to_fen(value):.2f}"
    return "" if value is None else str(value)
