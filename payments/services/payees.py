"""The accounts assistance is paid to (救助金收款账户)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Role

from ..models import PayeeKind, PersonBankAccount
from ._common import FINANCE


@transaction.atomic
def person_account_save(*, person, account_name: str, bank_name: str, account_number: str,
                        payee_kind: str = PayeeKind.SELF, evidence: str = "", actor=None) -> PersonBankAccount:
    """Record the account a person's assistance is paid to: their social-security card's bank
    account, or a close relative's with the evidence (关系证明、委托书)."""
    require_actor(actor, FINANCE | {Role.WINDOW_CLERK}, message=_("您的角色无权维护收款账户。"))
    errors: dict[str, list[str]] = {}
    for name, value in (("account_name", account_name), ("bank_name", bank_name), ("account_number", account_number)):
        if not (value or "").strip():
            errors[name] = [_("必填。")]
    if payee_kind not in (PayeeKind.SELF, PayeeKind.RELATIVE):
        errors["payee_kind"] = [_("收款账户类型应为 self 或 relative。")]
    elif payee_kind == PayeeKind.RELATIVE and not (evidence or "").strip():
        errors["evidence"] = [_("使用近亲属账户须注明关系与证明材料。")]
    if errors:
        raise ValidationError(errors)
    account = PersonBankAccount.objects.select_for_update().filter(person=person).first() or PersonBankAccount(person=person)
    fields = {"account_name": account_name.strip(), "bank_name": bank_name.strip(),
              "account_number": account_number.strip(), "payee_kind": payee_kind, "evidence": (evidence or "").strip()}
    if account.pk and all(getattr(account, k) == v for k, v in fields.items()):
        return account
    for k, v in fields.items():
        setattr(account, k, v)
    audited_save(account, actor=actor, reason=_("维护救助金收款账户"))
    return account
