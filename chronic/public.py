"""What other apps may use of chronic (claims settles chronic-disease outpatient claims)."""
from .rules import normalize_icd10, valid_icd10
from .selectors import catalogue_for_codes, certified_diseases, is_certified, pick_catalogue_entry

__all__ = ["normalize_icd10", "valid_icd10", "catalogue_for_codes", "certified_diseases", "is_certified",
           "pick_catalogue_entry"]
