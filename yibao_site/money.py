"""Money and the numbers around it — one helper per concept for every app.

* :func:`to_fen` — round to the fen, half-up (away from zero), the only rounding money gets.
* :func:`quantize` — the same for ratios, days and other fixed-place figures.
* :func:`jsonable` — how the API writes numbers: money and ratios as strings (API.md: never
  floats), dates as ISO strings, recursively through dicts, lists and tuples.

Parsing untrusted money text lives in :mod:`yibao_site.inputs` (``parse_money``); how money looks
to a clerk (``1,234.56``) in :mod:`yibao_site.formatting`.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value) -> Decimal:
    """``Decimal("1.005")`` → ``Decimal("1.01")``; ``-1.005`` → ``-1.01``; ints and strings too.

    Floats are refused: a float has already lost the fen.
    """
    if isinstance(value, float):
        raise TypeError("money is never a float")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def quantize(value, places: Decimal | str) -> Decimal:
    """Half-up to ``places`` (e.g. ``"0.0001"`` for a ratio, ``"0.1"`` for average days)."""
    if isinstance(value, float):
        raise TypeError("never a float")
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def decimal_text(value: Decimal) -> str:
    """A Decimal as the API writes it: at least two places (``5000`` → ``"5000.00"``,
    ``1234.5`` → ``"1234.50"``), more when the value carries them (a ratio ``"0.8500"``)."""
    if not value.is_finite():
        return str(value)
    text = str(value)
    if "E" not in text:  # plain notation: the places are the digits after the point (no as_tuple())
        dot = text.find(".")
        if dot < 0:
            return text + ".00"
        return text + "0" if len(text) - dot == 2 else text
    if value.as_tuple().exponent >= -2:
        return f"{value:.2f}"
    return text


#: The leaf types ``jsonable`` keeps as they are (matched by exact type).
JSON_LEAVES = frozenset((str, int, bool, float, type(None)))


def jsonable(value):
    """Recursively: Decimal → :func:`decimal_text`, date/datetime → ISO, tuples → lists."""
    kind = type(value)
    if kind in JSON_LEAVES:  # the common leaves first, by exact type (subclasses take the long way)
        return value
    if kind is Decimal:
        return decimal_text(value)
    if kind is dict:
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
