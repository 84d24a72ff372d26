"""Fund bookkeeping finance records by hand (基金收支登记)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Region

from ..models import FundEntry
from .roles import FINANCE_ROLES


@transaction.atomic
def fund_entry_record(*, fund: str, region: Region, month: date, kind: str, amount: Decimal, note: str = "",
                      actor) -> FundEntry:
    """Record a fund income / opening balance / other expense figure for a month (财务登记):
    finance or a supervisor, or a job (the demo seed's opening balances)."""
    require_actor(actor, FINANCE_ROLES, system=True)
    entry = FundEntry(fund=fund, region=region, month=month.replace(day=1), kind=kind, amount=amount, note=note,
                      created_by=actor if getattr(actor, "is_authenticated", False) else None)
    entry.full_clean()
    audited_save(entry, actor=actor, reason=_("登记基金收支"))
    return entry
