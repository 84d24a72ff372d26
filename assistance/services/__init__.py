"""Writes of the eligibility review (DOMAIN.md §6): one atomic service per transition.

Who may do what (DOMAIN.md §1, API.md "Roles"):

* **file / submit / supplement / resubmit** — a township agent for persons of their own
  township, or a window clerk (窗口受理);
* **township verification** (乡镇核实) — a township agent *of the case's township other than the
  filer*, or a reviewer (审核) of the bureau: the township checks the household and the
  materials; a reviewer may do it where the township cannot (e.g. a case received at the
  window and investigated by the bureau);
* **return for supplement** (退回补正, 一次性告知) — whoever may verify, and a window clerk while the
  case awaits verification; nobody returns their own filing;
* **approve / reject** — a reviewer only (窗口无否决权: a clerk never rejects); never one's own
  filing — superusers included;
* **pay** — finance, once.

Every write first calls ``yibao_site.actors.require_actor`` with its roles (fail-closed); every
transition then locks the application row, checks its guard, saves with ``update_fields``
through ``audited_save`` and writes an :class:`~assistance.models.ApplicationEvent` in the same
transaction.

By sub-domain: :mod:`.guards` (roles, township, the shared transition steps),
:mod:`.materials` (checklists, uploads), :mod:`.eligibility` (checks and the means test),
:mod:`.filing` (file, submit, verify), :mod:`.notices` (return, resubmit), :mod:`.approval`
(approve: determination, tilt, retroactive; reject), :mod:`.payouts` (财务支付),
:mod:`.deadlines` (overdue flagging, holidays).  This package re-exports every name, so
``from assistance.services import X`` works as before.
"""
from .approval import application_approve, application_reject
from .deadlines import applications_flag_overdue, holiday_save
from .eligibility import IDENTITY_BASES, MEANS_FIELDS
from .filing import application_create, application_submit, application_verify
from .guards import (
    FILERS, FINANCE, RETURNERS, REVIEWERS, SUPERVISORS, UPLOADERS, VERIFIERS, can_decide, can_file, can_return,
    can_verify,
)
# The steps every transition shares, for this app's own modules (e.g. a payout batch): the
# same names ``assistance.services`` had before it became a package.
from .guards import (  # noqa: F401
    Action, S, _event, _lock, _move, _not_own, _require_file, _role, _see, _snapshot, _status, _today,
)
from .approval import _approve_determination, _approve_retroactive, _approve_tilt, _one_time_payment  # noqa: F401
from .eligibility import _determination_category, _means_test, _object_category, _retroactive_basis  # noqa: F401
from .notices import _clean_missing  # noqa: F401
from yibao_site.money import ZERO  # noqa: F401
from .materials import (
    REQUIRED_MATERIALS, VERIFICATION_MATERIALS, material_add, material_for, missing_materials, required_materials,
)
from .notices import application_resubmit, application_return
from .payouts import payout_create

__all__ = [
    "application_approve", "application_reject", "applications_flag_overdue", "holiday_save",
    "IDENTITY_BASES", "MEANS_FIELDS", "application_create", "application_submit", "application_verify",
    "FILERS", "FINANCE", "RETURNERS", "REVIEWERS", "SUPERVISORS", "UPLOADERS", "VERIFIERS",
    "can_decide", "can_file", "can_return", "can_verify",
    "REQUIRED_MATERIALS", "VERIFICATION_MATERIALS", "material_add", "material_for", "missing_materials",
    "required_materials", "application_resubmit", "application_return", "payout_create",
]
