"""Checks of uploaded materials: the type from the file's first bytes, never its name."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# (magic bytes, MIME type, extension we store under)
_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
ALLOWED_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png")


def max_bytes() -> int:
    """The largest material accepted (a technical limit, not a policy number)."""
    return int(getattr(settings, "ASSISTANCE_MATERIAL_MAX_BYTES", 10 * 1024 * 1024))


def sniff(head: bytes) -> tuple[str, str] | None:
    """Return (MIME type, extension) for a PDF, JPEG or PNG header, else None."""
    for magic, mime, ext in _SIGNATURES:
        if head.startswith(magic):
            return mime, ext
    return None


def inspect_upload(upload) -> dict:
    """Check an uploaded file's size and sniffed type; return its facts or raise ValidationError."""
    if upload is None:
        raise ValidationError({"file": [_("请选择要上传的文件。")]})
    size = getattr(upload, "size", None) or 0
    if size <= 0:
        raise ValidationError({"file": [_("文件为空。")]})
    limit = max_bytes()
    if size > limit:
        raise ValidationError({"file": [_("文件过大:%(size)s 字节,上限 %(limit)s 字节(%(mb)s MB)。")
                                        % {"size": size, "limit": limit, "mb": limit // (1024 * 1024)}]})
    name = (getattr(upload, "name", "") or "").strip()
    lowered = name.lower()
    if not lowered.endswith(ALLOWED_EXTENSIONS):
        raise ValidationError({"file": [_("只接受 PDF、JPG、PNG 格式的文件。")]})
    upload.seek(0)
    head = upload.read(16)
    found = sniff(head)
    if found is None:
        raise ValidationError({"file": [_("文件内容不是有效的 PDF、JPG 或 PNG(按文件内容识别,而非扩展名)。")]})
    mime, ext = found
    if (ext == ".pdf") != lowered.endswith(".pdf"):
        raise ValidationError({"file": [_("文件扩展名与文件内容不符。")]})
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks() if hasattr(upload, "chunks") else [upload.read()]:
        digest.update(chunk)
    upload.seek(0)
    base = name.replace("\\", "/").rsplit("/", 1)[-1][:150] or "file" + ext
    return {"content_type": mime, "extension": ext, "size": size, "sha256": digest.hexdigest(), "original_name": base}
