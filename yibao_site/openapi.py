"""OpenAPI post-processing: the error answers every operation can give (API.md "Bad input").

drf-spectacular documents only the success status of each operation, so a client (or the
Schemathesis stage of CI, scripts/fuzz.sh) could not know that a ``400`` carries
``{"field": ["message", …]}`` and a ``401/403/404/413/415`` carries ``{"detail": …}``.
This hook adds those responses, with their shapes, wherever they can happen.
"""
from __future__ import annotations

_DETAIL = {
    "type": "object",
    "description": "非字段错误 / a non-field error: a message, or a list of messages.",
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "required": ["detail"],
}
_VALIDATION = {
    "type": "object",
    "description": "字段 → 错误信息列表; 非字段错误在 detail 下 / field → list of messages "
                   "(nested for nested fields); non-field errors under `detail`.",
    "additionalProperties": {},
}
_ERRORS = {
    "400": ("输入有误 / bad input", "ValidationError"),
    "401": ("未认证或令牌无效 / not authenticated", "ErrorDetail"),
    "403": ("角色无权执行此操作 / the caller's role may not do this", "ErrorDetail"),
    "404": ("不存在或不在本人辖区 / not found, or outside the caller's scope", "ErrorDetail"),
    "413": ("请求内容过大 / body too large", "ErrorDetail"),
    "415": ("不支持的内容类型 / unsupported media type", "ErrorDetail"),
}
_METHODS = ("get", "put", "post", "patch", "delete")


def _statuses(path: str, method: str, operation: dict) -> list[str]:
    # 400: any request (a control character in the URL is refused before routing).
    codes = ["400", "401", "403"]
    params = operation.get("parameters", [])
    paginated = any(p.get("in") == "query" and p.get("name") == "page" for p in params)
    if "{" in path or paginated:  # an object out of scope, or a page past the end
        codes.append("404")
    if method in ("put", "post", "patch"):
        codes += ["413", "415"]
    return codes


def document_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorDetail", _DETAIL)
    components.setdefault("ValidationError", _VALIDATION)
    for path, item in result.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in _statuses(path, method, operation):
                description, component = _ERRORS[code]
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
                })
    return result
