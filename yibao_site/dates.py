"""Calendar helpers shared by every app (validity windows, waiting periods, look-backs)."""
from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (negative too), clamped to the month's last
    day: 2024-01-31 + 1 → 2024-02-29; 2024-03-31 − 1 → 2024-02-29; 2023-11-15 + 14 → 2025-01-15."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def validity_window(start: date, months: int) -> tuple[date, date]:
    """(first day, last day) of a status valid ``months`` months from ``start``, inclusive:
    12 months from 2024-03-15 run to 2025-03-14."""
    return start, add_months(start, months) - timedelta(days=1)
