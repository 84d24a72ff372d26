"""Hostile-input guards in front of every view: body size, JSON depth, NUL and control bytes.

- :class:`RequestGuardMiddleware` refuses, before any view or form reads them, a body larger
  than the limit (413) and a path or query string with control characters (400) — in JSON
  under ``/api/``.
- :class:`StrictJSONParser` is the API's JSON parser: nesting deeper than
  ``API_JSON_MAX_DEPTH``, ``NaN``/``Infinity`` literals and control characters are 400s, and
  every string goes through :func:`yibao_site.inputs.clean_string` (full-width digits → ASCII,
  dates in the window), so each field sees what an ASCII keyboard would have typed.
"""
from __future__ import annotations

import json
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

from .inputs import _CONTROL, clean_string

API_PREFIX = "/api/"


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "Payload too large"
    default_code = "too_large"


def _limit() -> int:
    return int(getattr(settings, "API_MAX_BODY_BYTES", settings.DATA_UPLOAD_MAX_MEMORY_SIZE))


def _json_limit() -> int:
    return int(getattr(settings, "API_JSON_MAX_BYTES", 2 * 1024 * 1024))


def _refuse(request, status: int, message: str):
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": [message]}, status=status, json_dumps_params={"ensure_ascii": False})
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def too_large_message(limit: int | None = None) -> str:
    limit = _limit() if limit is None else limit
    return _("请求内容过大(上限 %(mb)s MB)。") % {"mb": round(limit / 1024 / 1024, 1)}


class RequestGuardMiddleware:
    """Refuse oversized bodies and control characters in the URL before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(request, 400, _("Content-Length 不正确。"))
        if length > _limit() and request.path.startswith(API_PREFIX):
            return _refuse(request, 413, too_large_message())
        raw = unquote(request.META.get("QUERY_STRING", "")) + request.path
        if _CONTROL.search(raw):
            return _refuse(request, 400, _("网址不能包含控制字符(如 NUL)。"))
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return _refuse(request, 413, too_large_message())
        return None


def _max_depth() -> int:
    return int(getattr(settings, "API_JSON_MAX_DEPTH", 20))


def _reject_constant(name: str):
    raise ValueError(name)


def _clean_tree(data, max_depth: int):
    """Walk the parsed JSON iteratively: enforce the depth, clean every string in place.

    Returns the cleaned tree; raises DRF's ``ValidationError`` naming the top-level field.
    """
    def fix(value, top):
        if isinstance(value, str):
            try:
                return clean_string(value)
            except DjangoValidationError as exc:
                raise ValidationError({top or "detail": list(exc.messages)}) from None
        return value

    root = [data]
    stack = [(root, 0, 0, None)]  # (container, key, depth, top-level field)
    while stack:
        container, key, depth, top = stack.pop()
        value = container[key]
        if isinstance(value, dict):
            if depth >= max_depth:
                raise ParseError(_("JSON 嵌套层数超过 %(n)s 层。") % {"n": max_depth})
            cleaned = {}
            for k, v in value.items():
                name = fix(k, top)
                cleaned[name] = v
            container[key] = cleaned
            for k in cleaned:
                stack.append((cleaned, k, depth + 1, top if top is not None else k))
        elif isinstance(value, list):
            if depth >= max_depth:
                raise ParseError(_("JSON 嵌套层数超过 %(n)s 层。") % {"n": max_depth})
            for i in range(len(value)):
                stack.append((value, i, depth + 1, top))
        else:
            container[key] = fix(value, top)
    return root[0]


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with a depth limit, no NaN/Infinity and the string rule."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = _json_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(too_large_message(limit))
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(_("请求内容不是有效的 UTF-8 文本。")) from None
        if not text.strip():
            return {}
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError(_("JSON 嵌套层数超过 %(n)s 层。") % {"n": _max_depth()}) from None
        except ValueError as exc:
            raise ParseError(_("JSON 格式错误:%(error)s") % {"error": str(exc)[:200]}) from None
        return _clean_tree(data, _max_depth())


def _clean_form(data):
    """A form's fields under the same string rule as JSON (NUL and control characters refused:
    PostgreSQL cannot store a NUL, so it was a 500 there)."""
    from django.http import QueryDict

    cleaned = QueryDict(mutable=True, encoding=getattr(data, "encoding", None))
    for key, values in data.lists():
        try:
            cleaned.setlist(clean_string(key), [clean_string(v) if isinstance(v, str) else v for v in values])
        except DjangoValidationError as exc:
            raise ValidationError({"detail" if _CONTROL.search(key) else key: list(exc.messages)}) from None
    cleaned._mutable = False
    return cleaned


class StrictFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return _clean_form(super().parse(stream, media_type, parser_context))


class StrictMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        return DataAndFiles(_clean_form(parsed.data), parsed.files)
