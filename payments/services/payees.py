"""The accounts assistance is paid to (救助金收款账户)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Role
from yibao_site.uploads import inspect_upload

from ..models import PayeeCorrection, PayeeKind, PayeeRelation, PersonBankAccount
from ._common import FINANCE, REVIEWERS


ACCOUNT_FIELDS = ("account_name", "bank_name", "account_number", "payee_kind")


def payee_problem(account: PersonBankAccount | None, person) -> str:
    """Why a person's assistance cannot be instructed to ``account`` now ("" when it can):
    no account, suspended after a bank return (until a reviewed correction), incomplete, an
    own account not in the person's name, a relative's without the relation or the proof."""
    if account is None:
        return _("未登记救助金收款账户。")
    if account.suspended_at is not None:
        return _("银行退回(%(reason)s),收款信息更正复核通过前暂停支付。") % {"reason": account.suspended_reason}
    if not (account.account_name.strip() and account.bank_name.strip() and account.account_number.strip()):
        return _("收款账户信息不完整。")
    if account.payee_kind == PayeeKind.SELF and account.account_name.strip() != person.name.strip():
        return _("本人社会保障卡银行账户的户名应为本人姓名。")
    if account.payee_kind == PayeeKind.RELATIVE:
        if not account.relation:
            return _("近亲属账户未注明与本人的关系。")
        if not account.evidence_file:
            return _("近亲属账户缺少证明材料(关系证明、委托书)。")
    return ""


@transaction.atomic
def person_account_save(*, person, account_name: str, bank_name: str, account_number: str,
                        payee_kind: str = PayeeKind.SELF, evidence: str = "", relation: str = "",
                        evidence_upload=None, store_file: bool = True, actor=None) -> PersonBankAccount:
    """Record the account a person's assistance is paid to: their social-security card's bank
    account (in their own name), or a close relative's with the relation and the uploaded
    proof (关系证明、委托书; PDF/JPG/PNG sniffed from its bytes).

    An account suspended by a bank return keeps its account details until a second person
    reviews a correction (:func:`correction_approve`); only its relation and proof may be
    completed meanwhile.  ``store_file=False`` checks everything but writes no file (a form's
    validation pass inside a rolled-back savepoint)."""
    require_actor(actor, FINANCE | {Role.WINDOW_CLERK}, message=_("您的角色无权维护收款账户。"))
    errors: dict[str, list[str]] = {}
    for name, value in (("account_name", account_name), ("bank_name", bank_name), ("account_number", account_number)):
        if not (value or "").strip():
            errors[name] = [_("必填。")]
    if payee_kind not in (PayeeKind.SELF, PayeeKind.RELATIVE):
        errors["payee_kind"] = [_("收款账户类型应为 self 或 relative。")]
    elif payee_kind == PayeeKind.SELF and (account_name or "").strip() != person.name.strip():
        errors["account_name"] = [_("本人社会保障卡银行账户的户名应为本人姓名。")]
    elif payee_kind == PayeeKind.RELATIVE:
        if not (evidence or "").strip():
            errors["evidence"] = [_("使用近亲属账户须注明关系与证明材料。")]
        if relation not in PayeeRelation.values:
            errors["relation"] = [_("使用近亲属账户须选择与本人的关系。")]
    facts = None
    if evidence_upload is not None:
        try:
            facts = inspect_upload(evidence_upload)
        except ValidationError as exc:
            errors["evidence_file"] = exc.message_dict.get("file", exc.messages)
    if errors:
        raise ValidationError(errors)
    account = PersonBankAccount.objects.select_for_update().filter(person=person).first() or PersonBankAccount(person=person)
    fields = {"account_name": account_name.strip(), "bank_name": bank_name.strip(),
              "account_number": account_number.strip(), "payee_kind": payee_kind, "evidence": (evidence or "").strip(),
              "relation": relation if payee_kind == PayeeKind.RELATIVE else ""}
    if account.suspended_at is not None and any(getattr(account, k) != fields[k] for k in ACCOUNT_FIELDS):
        raise ValidationError({"account_number": [_("该账户因银行退回暂停支付:更改账户须提交收款信息更正,经另一人复核。")]})
    if payee_kind == PayeeKind.RELATIVE and facts is None and not account.evidence_file:
        raise ValidationError({"evidence_file": [_("使用近亲属账户须上传证明材料(关系证明、委托书)。")]})
    if account.pk and facts is None and all(getattr(account, k) == v for k, v in fields.items()):
        return account
    for k, v in fields.items():
        setattr(account, k, v)
    if payee_kind == PayeeKind.SELF:
        account.evidence_file, account.evidence_name, account.evidence_sha256 = "", "", ""
    if facts is not None:
        account.evidence_sha256, account.evidence_name = facts["sha256"], facts["original_name"]
        if store_file:
            account.evidence_file.save(f"upload{facts['extension']}", evidence_upload, save=False)
    try:
        audited_save(account, actor=actor, reason=_("维护救助金收款账户"))
    except Exception:
        if facts is not None and store_file:
            account.evidence_file.delete(save=False)
        raise
    return account


def person_account_suspend(*, person_id: int, reason: str, actor) -> PersonBankAccount | None:
    """The bank returned a transfer to this account: no further instruction to it until a
    reviewed correction (called by the purpose handler inside the result's transaction)."""
    require_actor(actor, REVIEWERS, system=True)
    account = PersonBankAccount.objects.select_for_update().filter(person_id=person_id).first()
    if account is None or account.suspended_at is not None:
        return account
    account.suspended_at, account.suspended_reason = timezone.now(), reason[:200]
    audited_save(account, actor=actor, reason=_("银行退回,暂停支付"), update_fields=["suspended_at", "suspended_reason"])
    return account


def person_account_apply_correction(*, person, correction: PayeeCorrection, actor) -> PersonBankAccount:
    """A reviewed correction replaces the account's details and lifts the suspension.  A
    relative's relation and proof are kept only for the same account holder: a different
    relative needs their own proof before the next batch can pay them."""
    require_actor(actor, REVIEWERS)
    account = PersonBankAccount.objects.select_for_update().filter(person=person).first() or PersonBankAccount(person=person)
    same_holder = (account.payee_kind == PayeeKind.RELATIVE == correction.payee_kind
                   and account.account_name == correction.account_name)
    account.account_name, account.bank_name = correction.account_name, correction.bank_name
    account.account_number, account.payee_kind = correction.account_number, correction.payee_kind
    account.evidence = correction.evidence
    if not same_holder:
        account.relation, account.evidence_file, account.evidence_name, account.evidence_sha256 = "", "", "", ""
    account.suspended_at, account.suspended_reason = None, ""
    audited_save(account, actor=actor, reason=_("收款信息更正复核通过"))
    return account
