"""One rule for what people type: digits, money, dates, text and spreadsheet cells.

The API's JSON parser, the admin's forms and the import engine all come through here, so a
value typed through a Chinese input method (full-width ``１２３４．５０``) means the same
everywhere, and a value that could hurt (a NUL byte, a control character, a spreadsheet
formula, an amount the ledger's columns cannot hold) is refused everywhere with one message.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CENT = Decimal("0.01")

# The largest amount anyone may enter: under 100 million yuan.  Columns hold 14 digits
# (999 999 999 999.99), so ten thousand such amounts on one ledger, fund or payment total
# still fit; an input bound is what keeps every sum a database column holds from overflowing.
MONEY_MAX = Decimal("99999999.99")

# Business dates outside this window are typing mistakes ("0001-01-01", "9999-12-31").
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2100, 12, 31)

# Full-width forms a Chinese input method produces for digits and the punctuation of numbers,
# dates and codes; letters too (ID check character "Ｘ", codes).
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20  # ideographic space
_FULLWIDTH[0x3002] = 0x2E  # 。 typed for a decimal point
# A number, date, month or code: ASCII digits, letters and the punctuation they use.
_CODE_LIKE = re.compile(r"[0-9A-Za-z.,:/+\- _]+")
# Control characters other than tab, newline and carriage return (allowed in free text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A decimal digit of another script: Unicode category Nd (what ``\\d`` matches in a str pattern,
# the same set as ``unicodedata.decimal``) other than ASCII and full-width digits.
_FOREIGN_DIGIT = re.compile(r"(?![0-9\uff10-\uff19])\d")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_MONTH = re.compile(r"(\d{4})-(\d{2})")

# Cells that a spreadsheet would run as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def ascii_digits(text: str) -> str:
    """Return ``text`` with full-width characters replaced by their ASCII forms."""
    return text.translate(_FULLWIDTH)


def has_foreign_digits(text: str) -> bool:
    """Whether ``text`` has a decimal digit of another script (Arabic-Indic, Devanagari…)."""
    # One regex scan in C (an import checks every cell); equal to
    # ``any(not ch.isascii() and not "０" <= ch <= "９" and unicodedata.decimal(ch, None) is not None …)``
    # for every code point (test_inputs checks it).
    return not text.isascii() and _FOREIGN_DIGIT.search(text) is not None


def normalise_code_like(text: str) -> str:
    """Return ``text`` in ASCII when it is a number, date, month or code typed in full width.

    Text with Chinese characters (a name, an address, a note) is returned unchanged.  A
    number written in another script's digits is refused: Python would read ``"٣"`` as 3,
    and nobody at a Chinese bureau types it on purpose.
    """
    if text.isascii():  # nothing full width, no foreign digit: the common case, unchanged
        return text
    converted = ascii_digits(text)
    if converted != text and _CODE_LIKE.fullmatch(converted.strip()):
        text = converted.strip()
    if has_foreign_digits(text):
        raise ValidationError(_("请使用阿拉伯数字 0-9(全角数字会自动转换)。"), code="digits")
    return text


def check_text(text: str) -> str:
    """Refuse NUL and other control characters (tab and line breaks are allowed)."""
    if _CONTROL.search(text):
        raise ValidationError(_("不能包含控制字符(如 NUL)。"), code="control")
    return text


def check_date_window(text: str) -> None:
    """Refuse an ISO date or month string whose year lies outside the sane window."""
    match = _ISO_DAY.fullmatch(text) or _ISO_MONTH.fullmatch(text)
    if match is None:
        return
    year = int(match.group(1))
    if not DATE_MIN.year <= year <= DATE_MAX.year:
        raise ValidationError(_("日期应在 %(min)s 至 %(max)s 之间。")
                              % {"min": DATE_MIN.isoformat(), "max": DATE_MAX.isoformat()}, code="date_window")


def clean_string(text: str) -> str:
    """The rule every string of a request or a file goes through: control characters refused,
    full-width numbers and codes normalised, dates in the window."""
    check_text(text)
    text = normalise_code_like(text)
    check_date_window(text)
    return text


def check_date(value: date) -> date:
    """Refuse a parsed date outside the window."""
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValidationError(_("日期应在 %(min)s 至 %(max)s 之间。")
                              % {"min": DATE_MIN.isoformat(), "max": DATE_MAX.isoformat()}, code="date_window")
    return value


def parse_money(value: Any, *, allow_number: bool = False, allow_negative: bool = False,
                maximum: Decimal = MONEY_MAX) -> Decimal:
    """Parse yuan as a decimal string with at most two places; raise ``ValidationError``.

    A JSON number is refused (``allow_number`` is for spreadsheet cells, whose numbers the
    import engine has already turned into exact text): money is a decimal string (API.md).
    """
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not allow_number):
        raise ValidationError(_("金额请用字符串表示的小数,如 \"1234.50\",不接受 JSON 数字。"), code="money_number")
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, (str, int, Decimal)):
        raise ValidationError(_("金额格式不正确。"), code="money")
    text = normalise_code_like(check_text(str(value))).strip().replace(",", "")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError(_("金额格式不正确。"), code="money") from None
    if not amount.is_finite():
        raise ValidationError(_("金额格式不正确。"), code="money")
    if amount < 0 and not allow_negative:
        raise ValidationError(_("金额不能为负数。"), code="money_negative")
    if amount != amount.quantize(CENT):
        raise ValidationError(_("金额最多保留两位小数。"), code="money_places")
    if abs(amount) > maximum:
        raise ValidationError(_("金额不能超过 %(max)s 元。") % {"max": f"{maximum:,.2f}"}, code="money_max")
    return amount.quantize(CENT)


def is_formula(text: str) -> bool:
    """Whether a spreadsheet would treat ``text`` as a formula (a plain signed number is not)."""
    if not text or not text.startswith(FORMULA_PREFIXES):
        return False
    return not (text[0] in "+-" and _PLAIN_NUMBER.fullmatch(text))


def check_cell(text: str) -> str:
    """Refuse a text cell of an imported file that is a formula or has control characters."""
    if is_formula(text):
        raise ValidationError(_("不能以 = + - @ 或制表符开头(电子表格公式)。"), code="formula")
    return check_text(text)


def excel_safe(value: Any) -> Any:
    """Return ``value`` safe to write into a CSV or XLSX cell: text that a spreadsheet would
    run as a formula gets a leading apostrophe (shown as text, never executed)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def excel_safe_row(values) -> list:
    return [excel_safe(v) for v in values]
