"""Checks of uploaded materials — moved to the kernel (``yibao_site.uploads``) so that every
case workflow (assistance applications, chronic-disease certifications) shares them."""
from yibao_site.uploads import ALLOWED_EXTENSIONS, inspect_upload, max_bytes, sniff  # noqa: F401
