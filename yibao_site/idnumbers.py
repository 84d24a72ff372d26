"""Resident ID numbers (公民身份号码, GB 11643-1999): check character, birth date, sex, and who
may see them whole.

Every app handles IDs (members registers persons, claims and imports match on them, logs mask
them), so this is kernel: it imports no domain app."""
from __future__ import annotations

import functools
from datetime import date
from operator import mul

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


_ZERO_WEIGHT = ord("0") * sum(_WEIGHTS)


def check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for 17 digits."""
    if first17.isascii() and len(first17) == 17:
        # Byte arithmetic: Σ(byte − 48)·w = Σ byte·w − 48·Σw (an import checks every row).
        total = sum(map(mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_WEIGHT
    else:
        total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def parse_id_number(value: str) -> tuple[date, str]:
    """Return (birth date, sex 'M'/'F') of a valid ID number, or raise ``ValidationError``."""
    value = (value or "").strip().upper()
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise ValidationError(_("公民身份号码应为18位:17位数字加1位校验码(数字或X)。"), code="format")
    if check_character(value[:17]) != value[17]:
        raise ValidationError(_("公民身份号码校验码错误。"), code="checksum")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValidationError(_("公民身份号码中的出生日期无效。"), code="birth_date") from None
    if birth.year < 1900 or birth > date.today():
        raise ValidationError(_("公民身份号码中的出生日期无效。"), code="birth_date")
    sex = "M" if int(value[16]) % 2 == 1 else "F"
    return birth, sex


def validate_id_number(value: str) -> None:
    parse_id_number(value)


def mask_id_number(value: str) -> str:
    """``420302199001011234`` → ``420302********1234``."""
    if not value or len(value) < 10:
        return value
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


# GB/T 2260 province-level codes: the first two digits of every resident ID.
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
})


def normalise_id_number(value: str) -> str:
    return (value or "").strip().upper()


def validate_region_prefix(value: str) -> None:
    """The first two digits must be a real province code (GB/T 2260)."""
    if normalise_id_number(value)[:2] not in PROVINCE_CODES:
        raise ValidationError(_("公民身份号码前两位不是有效的省级行政区划代码。"), code="region")


# Roles that work with whole resident IDs (registration at the window, administration).
# Everyone else sees them masked in lists and exports (DOMAIN.md §3).
@functools.cache
def _full_id_roles():
    from yibao_site.models import Role

    return frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})


def sees_full_ids(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_superuser or user.role in _full_id_roles())


def id_whole(id_number: str) -> str:
    """The ID as it is (for roles that see IDs whole)."""
    return id_number


def id_display_for(user):
    """How ``user`` sees IDs in a list or an export, as a function of the ID: decided once for a
    whole list (the user's role does not change while it is answered), then applied per row."""
    return id_whole if sees_full_ids(user) else mask_id_number


def display_id(user, id_number: str) -> str:
    """The ID as ``user`` may see it in a list or an export."""
    return id_display_for(user)(id_number)
