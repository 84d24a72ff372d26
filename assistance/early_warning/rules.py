"""Pure rules of the double early warning (DOMAIN.md §7, §9): no ORM.

Every number comes in as an argument read from the policy parameters, so these functions can
be read against the policy text and property-tested.
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from datetime import date
from decimal import Decimal

from yibao_site.money import to_fen

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """Parse ``YYYY-MM`` into the month's first day; raise ``ValueError`` otherwise."""
    match = _MONTH_RE.match(str(text or "").strip())
    if not match:
        raise ValueError(text)
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise ValueError(text)
    return date(year, month, 1)


def month_end(month: date) -> date:
    return date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def income_reference_date(month: date) -> date:
    """The day whose value of "last year's income" applies: 1 Jan of the previous year (§9)."""
    return date(month.year - 1, 1, 1)


def threshold(ratio: Decimal, income: Decimal) -> Decimal:
    """Warning line = ratio × last year's rural per-capita disposable income, to the fen."""
    return to_fen(Decimal(ratio) * Decimal(income))


def is_above(year_to_date: Decimal, line: Decimal) -> bool:
    """A person is warned only when strictly above the line (超过): exactly at it is not."""
    return to_fen(year_to_date) > to_fen(line)


def year_to_date(months: list[Decimal], through: int) -> Decimal:
    """Sum of the monthly out-of-pocket columns 1…``through`` (the ledger's ``oop_mNN``)."""
    return to_fen(sum((Decimal(m) for m in months[:through]), Decimal("0")))


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff before retry number ``attempt`` (1 = the first retry)."""
    if attempt < 1:
        return 0.0
    return float(min(cap, base * (2 ** (attempt - 1))))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``"<timestamp>." + body``, as sent in ``X-Yibao-Signature``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiving department does with the headers (documented for their developers)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")
