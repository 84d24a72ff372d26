"""Pure rules of the chronic-disease catalogue: ICD-10 codes and ranges, validity periods."""
from __future__ import annotations

import re
from datetime import date
from typing import Iterable

ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,8})?$")


def normalize_icd10(code: str | None) -> str:
    """``" e11.9 "`` → ``"E11.9"`` (the Chinese national extension's ``x`` is upper-cased)."""
    return (code or "").strip().upper()


def valid_icd10(code: str) -> bool:
    return bool(ICD10.match(normalize_icd10(code)))


def _key(code: str) -> str:
    return normalize_icd10(code).replace(".", "")


def icd10_in_ranges(code: str | None, ranges: Iterable[str] | None) -> bool:
    """Whether ``code`` falls in one of ``ranges`` (``"I10-I15"`` inclusive, or ``"B18"``:
    the category and all its sub-codes).  Each bound is compared on its own length, so
    ``"E11.901"`` is in ``"E10-E14"`` and ``"I15.9"`` in ``"I10-I15"``, ``"I16"`` is not."""
    value = _key(code or "")
    if not value:
        return False
    for item in ranges or ():
        low, _sep, high = str(item).partition("-")
        low, high = _key(low), _key(high or low)
        if low and high and low <= value[:len(low)] and value[:len(high)] <= high:
            return True
    return False


def in_force(valid_from: date | None, valid_to: date | None, on: date) -> bool:
    return valid_from is not None and valid_from <= on and (valid_to is None or on <= valid_to)
