"""Kept for the migrations that reference ``members.validators.validate_id_number``; the code
lives in the kernel (:mod:`yibao_site.idnumbers`)."""
from yibao_site.idnumbers import validate_id_number  # noqa: F401
