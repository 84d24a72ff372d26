"""What other apps may use of chronic (claims settles chronic-disease outpatient claims)."""
from .rules import icd10_in_ranges, normalize_icd10, valid_icd10
from .selectors import catalogue_for_codes, certified_diseases, certified_map, is_certified, pick_catalogue_entry

__all__ = ["normalize_icd10", "valid_icd10", "catalogue_for_codes", "certified_diseases", "is_certified",
           "pick_catalogue_entry", "certified_map", "icd10_in_ranges"]
