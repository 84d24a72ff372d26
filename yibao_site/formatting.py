"""How numbers look to a clerk: money as ``1,659,025.51`` (元, fen, half-up), rates as
``100%``, counts with thousands separators.  Pages use the ``money`` / ``percent`` / ``count``
filters of ``{% load yibao %}``; exports and messages call these functions directly."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
EMPTY = "—"


def to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        return Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return None


def format_money(value, empty: str = EMPTY) -> str:
    """``Decimal("1659025.5100000000")`` → ``"1,659,025.51"``; ``-127616.585`` → ``"-127,616.59"``
    (half-up, away from zero); ``None`` → ``"—"``."""
    amount = to_decimal(value)
    if amount is None or not amount.is_finite():
        return empty if value in (None, "") else str(value)
    amount = amount.quantize(FEN, rounding=ROUND_HALF_UP)
    if amount == 0:
        amount = abs(amount)  # no "-0.00"
    return f"{amount:,.2f}"


def format_count(value, empty: str = EMPTY) -> str:
    if value is None or value == "":
        return empty
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def format_percent(value, places: int = 2, empty: str = EMPTY) -> str:
    """A rate stored as a fraction: ``Decimal("1.0000")`` → ``"100%"``, ``0.055`` → ``"5.5%"``."""
    rate = to_decimal(value)
    if rate is None or not rate.is_finite():
        return empty
    pct = (rate * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).normalize()
    text = f"{pct:f}"
    return f"{text}%"


def money_number(value) -> float | None:
    """A money value for a chart axis (charts draw, they never compute)."""
    amount = to_decimal(value)
    if amount is None:
        return None
    return float(amount.quantize(FEN, rounding=ROUND_HALF_UP))
