"""Writes of chronic-disease certification (门诊慢特病认定, DOMAIN.md §11) and the catalogue.

Who may do what (the same workflow as assistance applications, ``yibao_site.workflow``):

* **file / upload / submit / resubmit** — a township agent for persons of their own township,
  or a window clerk (窗口受理);
* **return for supplement** (退回补正, 一次性告知: every missing item at once) — a reviewer while
  the case is open, a window clerk while it awaits the hospital's opinion; never one's own filing;
* **record the designated hospital's opinion** (医院认定意见) — a window clerk or reviewer, for
  a hospital the region's ``chronic.certification.hospitals`` lists; never one's own filing;
* **approve / reject** — a reviewer only (窗口无否决权), never one's own filing (superusers
  included); approval needs a supporting hospital opinion and starts the validity
  (``chronic.certification.valid_months`` from the approval date);
* **review (复审) / revoke (撤销)** — a reviewer; a revocation ends the validity the day before;
* **catalogue** — a supervisor (病种目录维护; also loaded from the policy packs).

Every transition locks the row, checks its guard, saves through ``audited_save`` and writes a
:class:`~chronic.models.CertificationEvent` in the same transaction.

The services by sub-domain: :mod:`.common` (who may act, shared helpers), :mod:`.filing`,
:mod:`.decisions` (incl. hospital imports and overdue flags), :mod:`.catalogue`.
"""
from .catalogue import (
    CATALOGUE_FIELDS, catalogue_load_from_pack, catalogue_upsert, clean_catalogue_entry, disease_save,
)
from .common import (
    CATALOGUE_ROLES, DECIDE_ROLES, FILE_ROLES, IMPORT_ROLES, JOB_ROLES, MATERIAL_ROLES, OPINION_ROLES,
    REQUIRED_MATERIALS, _check_diagnosis, _snapshot, can_decide, can_file, can_record_opinion, can_return,
    hospitals,
)
from .decisions import (
    certification_approve, certification_record_opinion, certification_reject, certification_review,
    certification_revoke, certifications_flag_overdue, certifications_import,
)
from .filing import (
    certification_create, certification_resubmit, certification_return, certification_submit, material_add,
    material_for,
)

__all__ = [
    "CATALOGUE_FIELDS", "catalogue_load_from_pack", "catalogue_upsert", "clean_catalogue_entry", "disease_save",
    "CATALOGUE_ROLES", "DECIDE_ROLES", "FILE_ROLES", "IMPORT_ROLES", "JOB_ROLES", "MATERIAL_ROLES", "OPINION_ROLES",
    "REQUIRED_MATERIALS", "_check_diagnosis", "_snapshot", "can_decide", "can_file", "can_record_opinion",
    "can_return", "hospitals",
    "certification_approve", "certification_record_opinion", "certification_reject", "certification_review",
    "certification_revoke", "certifications_flag_overdue", "certifications_import",
    "certification_create", "certification_resubmit", "certification_return", "certification_submit",
    "material_add", "material_for",
]
