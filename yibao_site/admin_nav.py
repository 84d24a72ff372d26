"""The admin sidebar: each role's daily work one click away (unfold navigation).

Permission callbacks take the request; a link a role cannot use is not shown.
"""
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from .models import Role


def _role(request, *roles) -> bool:
    user = request.user
    return user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) in roles)


def staff(request):
    return _role(request, Role.WINDOW_CLERK, Role.REVIEWER, Role.FINANCE, Role.SUPERVISOR)


def clerk(request):
    return _role(request, Role.WINDOW_CLERK, Role.SUPERVISOR)


def reviewer(request):
    return _role(request, Role.REVIEWER, Role.WINDOW_CLERK, Role.SUPERVISOR)


def finance(request):
    return _role(request, Role.FINANCE, Role.SUPERVISOR)


def supervisor(request):
    return _role(request, Role.SUPERVISOR)


def _item(title, icon, url, permission):
    return {"title": title, "icon": icon, "link": url, "permission": f"yibao_site.admin_nav.{permission}"}


NAVIGATION = [
    {"title": _("参保"), "separator": True, "items": [
        _item(_("参保人员"), "person", reverse_lazy("admin:members_person_changelist"), "staff"),
        _item(_("年度参保"), "badge", reverse_lazy("admin:members_enrollment_changelist"), "staff"),
        _item(_("困难身份"), "diversity_3", reverse_lazy("admin:members_identity_changelist"), "staff"),
        _item(_("资助参保批次"), "volunteer_activism", reverse_lazy("admin:members_subsidybatch_changelist"), "staff"),
        _item(_("个人账户"), "account_balance_wallet", reverse_lazy("admin:members_personalaccount_changelist"), "staff"),
    ]},
    {"title": _("结算"), "separator": True, "items": [
        _item(_("结算单"), "receipt_long", reverse_lazy("admin:claims_claim_changelist"), "staff"),
        _item(_("手工报销"), "edit_note", reverse_lazy("admin:claims_claim_manual"), "clerk"),
        _item(_("基金运行"), "monitoring", reverse_lazy("admin:claims_fund_report"), "finance"),
        _item(_("公布报表"), "summarize", reverse_lazy("admin:claims_published_reports"), "staff"),
    ]},
    {"title": _("医疗救助"), "separator": True, "items": [
        _item(_("救助申请"), "assignment", reverse_lazy("admin:assistance_application_changelist"), "reviewer"),
        _item(_("救助对象"), "groups", reverse_lazy("admin:assistance_assistanceobject_changelist"), "staff"),
        _item(_("救助金支付"), "payments", reverse_lazy("admin:assistance_payout_changelist"), "finance"),
        _item(_("救助金代发批次"), "send_money", reverse_lazy("admin:assistance_payoutbatch_changelist"), "finance"),
        _item(_("待代发队列"), "pending_actions", reverse_lazy("admin:assistance_payout_queue"), "finance"),
        _item(_("救助金收款账户"), "credit_card", reverse_lazy("admin:payments_personbankaccount_changelist"), "finance"),
        _item(_("双预警看板"), "warning", reverse_lazy("admin:early_warning_dashboard"), "staff"),
    ]},
    {"title": _("集采结算"), "separator": True, "items": [
        _item(_("配送单"), "local_shipping", reverse_lazy("admin:procurement_delivery_changelist"), "staff"),
        _item(_("支付批次"), "account_balance", reverse_lazy("admin:procurement_paymentrun_changelist"), "finance"),
        _item(_("集采报表"), "bar_chart", reverse_lazy("admin:procurement_reports"), "staff"),
    ]},
    {"title": _("银行支付"), "separator": True, "items": [
        _item(_("支付指令批次"), "request_quote", reverse_lazy("admin:payments_instructionbatch_changelist"), "finance"),
        _item(_("支付指令"), "receipt", reverse_lazy("admin:payments_instruction_changelist"), "finance"),
        _item(_("银行回盘"), "move_to_inbox", reverse_lazy("admin:payments_bankresult_changelist"), "finance"),
        _item(_("收款信息更正"), "edit", reverse_lazy("admin:payments_payeecorrection_changelist"), "finance"),
        _item(_("支付对账"), "balance", reverse_lazy("admin:payments_reconciliation"), "finance"),
    ]},
    {"title": _("系统"), "separator": True, "items": [
        _item(_("政策参数"), "tune", reverse_lazy("admin:yibao_site_policyparameter_changelist"), "staff"),
        _item(_("行政区划"), "map", reverse_lazy("admin:yibao_site_region_changelist"), "staff"),
        _item(_("工作人员"), "manage_accounts", reverse_lazy("admin:yibao_site_user_changelist"), "supervisor"),
        _item(_("审计日志"), "history", "/admin/audit/", "supervisor"),
    ]},
]


def navigation(request):
    return NAVIGATION
