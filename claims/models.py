"""Claims (one medical episode each) and the per-person, per-year ledger.

The claims helper owns this module.  The double early warning reads
``PersonYearLedger.out_of_pocket`` and the monthly columns ``oop_m01``…``oop_m12`` (the
year-to-date out-of-pocket through month M is their sum), so a monthly run is one scan of the
ledger instead of a GROUP BY over raw claims.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Person, Scheme

ZERO = Decimal("0.00")


def money(verbose_name, **kwargs):
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


class VisitType(models.TextChoices):
    INPATIENT = "inpatient", _("住院")
    OUTPATIENT = "outpatient", _("普通门诊")
    CHRONIC = "chronic", _("门诊慢特病")


class ClaimStatus(models.TextChoices):
    SETTLED = "settled", _("已结算")
    REVERSED = "reversed", _("已冲销")


class ClaimSource(models.TextChoices):
    API = "api", _("接口")
    PLATFORM = "platform", _("平台导入")
    MANUAL = "manual", _("手工报销")


class Claim(models.Model):
    """One medical episode and its settlement through the four tiers (一站式结算)."""

    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="claims")
    year = models.PositiveSmallIntegerField(_("结算年度"), editable=False)
    scheme = models.CharField(_("险种"), max_length=10, choices=Scheme.choices, blank=True, editable=False)
    visit_type = models.CharField(_("就诊类型"), max_length=12, choices=VisitType.choices)
    hospital_level = models.PositiveSmallIntegerField(_("医院级别"), choices=[(1, _("一级")), (2, _("二级")), (3, _("三级"))])
    in_province = models.BooleanField(_("省内就医"), default=True)
    referred = models.BooleanField(_("规范转诊"), default=False)
    service_date = models.DateField(_("就诊(出院)日期"))
    total_cost = money(_("医疗总费用"))
    policy_scope_cost = money(_("政策范围内费用"))
    basic_paid = money(_("基本医保支付"))
    critical_paid = money(_("大病保险支付"))
    assistance_paid = money(_("医疗救助支付"))
    second_round_paid = money(_("再救助/倾斜救助支付"))
    out_of_pocket = money(_("个人自负"))
    platform_settled = models.BooleanField(_("医院平台已结算基本和大病"), default=False)
    status = models.CharField(_("状态"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SETTLED)
    source = models.CharField(_("来源"), max_length=10, choices=ClaimSource.choices, default=ClaimSource.API)
    external_ref = models.CharField(_("平台结算流水号"), max_length=64, null=True, blank=True, unique=True)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True)
    breakdown = models.JSONField(_("分段明细"), default=dict, blank=True)
    explanation = models.TextField(_("结算说明"), blank=True)
    reversal_of = models.OneToOneField("self", verbose_name=_("冲销对象"), null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="reversed_by")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("经办人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    settled_at = models.DateTimeField(_("结算时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("结算单")
        verbose_name_plural = _("结算单")
        indexes = [
            models.Index(fields=["person", "service_date"]),
            models.Index(fields=["year", "visit_type"]),
            models.Index(fields=["service_date"]),
        ]


class PersonYearLedger(models.Model):
    """Cumulative amounts for one person and year (个人年度累计台账).

    Settlement locks this row (``select_for_update``) and computes each annual threshold and
    cap as F(cumulative after) − F(cumulative before).
    """

    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="ledgers")
    year = models.PositiveSmallIntegerField(_("年度"))
    out_of_pocket = money(_("个人自负累计"))
    oop_m01 = money(_("1月自负"))
    oop_m02 = money(_("2月自负"))
    oop_m03 = money(_("3月自负"))
    oop_m04 = money(_("4月自负"))
    oop_m05 = money(_("5月自负"))
    oop_m06 = money(_("6月自负"))
    oop_m07 = money(_("7月自负"))
    oop_m08 = money(_("8月自负"))
    oop_m09 = money(_("9月自负"))
    oop_m10 = money(_("10月自负"))
    oop_m11 = money(_("11月自负"))
    oop_m12 = money(_("12月自负"))

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("个人年度台账")
        verbose_name_plural = _("个人年度台账")
        constraints = [models.UniqueConstraint(fields=["person", "year"], name="ledger_unique_person_year")]
        indexes = [models.Index(fields=["year", "out_of_pocket"])]
