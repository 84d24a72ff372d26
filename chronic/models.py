"""Outpatient chronic and special diseases (门诊慢特病, DOMAIN.md §11).

:class:`ChronicDisease` is the catalogue: per region (the pooling region a pack is loaded
onto; a county may add its own rows), dated, shipped in the policy packs and editable by a
supervisor.  :class:`Certification` (认定) is one person's case for one disease: filed at the
window or by a township agent, with the diagnosis and evidence, a designated hospital's
opinion, and the bureau's decision; approved, it is valid from the approval for the pack's
period until reviewed (复审) or revoked (撤销).  Settlement reads only approved certifications
valid on the service date (``selectors.certified_diseases``).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Person
from yibao_site.models import CaseEventBase, CaseMaterialBase, CaseNoticeBase, Region


class ChronicDisease(models.Model):
    """One disease of the catalogue (门诊慢特病病种目录), in force from ``valid_from``."""

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("病种编码"), max_length=20)
    name = models.CharField(_("病种名称"), max_length=80)
    icd10 = models.JSONField(_("ICD-10 编码范围"), default=list, blank=True,
                             help_text=_("[\"I10-I15\", \"E11\", …]:该病种覆盖的诊断编码(含两端)。"))
    criteria = models.TextField(_("认定标准"), blank=True)
    unified_criteria = models.BooleanField(_("统一认定标准"), default=False)
    separate_drug_payment = models.BooleanField(_("药品单独支付"), default=False)
    rate_key = models.CharField(_("报销比例参数"), max_length=80, blank=True,
                                help_text=_("留空则按“basic.<险种>.chronic.rate”。"))
    cap_key = models.CharField(_("年度限额参数"), max_length=80, blank=True,
                               help_text=_("留空则按“basic.<险种>.chronic.annual_cap”。"))
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True)
    illustrative = models.BooleanField(_("示例数据"), default=False,
                                       help_text=_("种子材料未给出的病种(示例),上线前应由管理员核定。"))
    source = models.CharField(_("出处"), max_length=200, blank=True)
    pack = models.CharField(_("政策包"), max_length=40, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None  # the catalogue is not township data; readable by every staff role

    class Meta:
        verbose_name = _("门诊慢特病病种")
        verbose_name_plural = _("门诊慢特病病种目录")
        ordering = ["region__code", "code", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["region", "code", "valid_from"], name="chronic_disease_unique_dated"),
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                                   name="chronic_disease_dates_ordered"),
        ]
        indexes = [models.Index(fields=["code", "valid_from"])]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class CertificationStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已受理")
    RETURNED = "returned", _("退回补正")
    RESUBMITTED = "resubmitted", _("补正后重新提交")
    ASSESSED = "assessed", _("医院已出具意见")
    APPROVED = "approved", _("已认定")
    REJECTED = "rejected", _("不予认定")
    REVOKED = "revoked", _("已撤销")


OPEN_STATUSES = (CertificationStatus.SUBMITTED, CertificationStatus.RESUBMITTED, CertificationStatus.ASSESSED)
"""Statuses in which the bureau owes the applicant an answer (the deadline runs)."""
AWAITING_OPINION = (CertificationStatus.SUBMITTED, CertificationStatus.RESUBMITTED)
LIVE_STATUSES = (CertificationStatus.DRAFT, CertificationStatus.SUBMITTED, CertificationStatus.RETURNED,
                 CertificationStatus.RESUBMITTED, CertificationStatus.ASSESSED, CertificationStatus.APPROVED)


class CertificationChannel(models.TextChoices):
    TOWNSHIP = "township", _("乡镇(街道)帮办代办")
    WINDOW = "window", _("窗口受理")
    HOSPITAL = "hospital", _("定点医院认定(导入)")


class CertificationMaterialType(models.TextChoices):
    APPLICATION_FORM = "application_form", _("门诊慢特病认定申请表")
    ID_CARD = "id_card", _("身份证")
    DIAGNOSIS = "diagnosis", _("诊断证明")
    MEDICAL_RECORD = "medical_record", _("病历或出院小结")
    TEST_REPORT = "test_report", _("检查检验报告")
    OTHER = "other", _("其他材料")


class Certification(models.Model):
    """One person's certification case for one chronic disease (门诊慢特病认定)."""

    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT,
                               related_name="chronic_certifications")
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT,
                                 related_name="chronic_certifications", editable=False)
    disease = models.ForeignKey(ChronicDisease, verbose_name=_("病种"), on_delete=models.PROTECT,
                                related_name="certifications")
    diagnosis = models.CharField(_("诊断编码(ICD-10)"), max_length=16)
    note = models.TextField(_("申请说明"), blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=CertificationStatus.choices,
                              default=CertificationStatus.DRAFT, editable=False)
    channel = models.CharField(_("受理渠道"), max_length=10, choices=CertificationChannel.choices, editable=False)

    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("填报人"), on_delete=models.PROTECT,
                                 related_name="+", editable=False)
    filed_at = models.DateTimeField(_("填报时间"), auto_now_add=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("首问负责人"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+", editable=False)
    submitted_at = models.DateTimeField(_("受理时间"), null=True, blank=True, editable=False)
    deadline = models.DateField(_("办结时限"), null=True, blank=True, editable=False)
    overdue = models.BooleanField(_("已超期"), default=False, editable=False)

    hospital_code = models.CharField(_("认定医院编码"), max_length=30, blank=True, editable=False)
    hospital_name = models.CharField(_("认定医院"), max_length=80, blank=True, editable=False)
    hospital_opinion = models.TextField(_("医院认定意见"), blank=True, editable=False)
    hospital_supports = models.BooleanField(_("医院意见:符合认定标准"), null=True, blank=True, editable=False)
    opinion_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("意见录入人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    opinion_at = models.DateTimeField(_("意见录入时间"), null=True, blank=True, editable=False)

    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审核人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    decided_at = models.DateTimeField(_("审核时间"), null=True, blank=True, editable=False)
    decision_reason = models.TextField(_("审核意见"), blank=True, editable=False)
    valid_from = models.DateField(_("认定有效期起"), null=True, blank=True, editable=False)
    valid_to = models.DateField(_("认定有效期止"), null=True, blank=True, editable=False)
    reviewed_at = models.DateTimeField(_("复审时间"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True, editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("门诊慢特病认定")
        verbose_name_plural = _("门诊慢特病认定")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["township", "status"]),
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["person", "status", "valid_from"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_from__isnull=False),
                                   name="certification_validity_has_start"),
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from"))
                                   | Q(status="revoked"), name="certification_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.person} · {self.disease}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class CertificationEvent(CaseEventBase):
    """One transition of a certification: who, when, from, to, why (审核留痕)."""

    class Action(models.TextChoices):
        CREATE = "create", _("填报")
        SUBMIT = "submit", _("受理")
        MATERIAL = "material", _("上传材料")
        RETURN = "return", _("退回补正")
        RESUBMIT = "resubmit", _("补正后重新提交")
        OPINION = "opinion", _("录入医院意见")
        APPROVE = "approve", _("认定")
        REJECT = "reject", _("不予认定")
        REVIEW = "review", _("复审")
        REVOKE = "revoke", _("撤销")
        IMPORT = "import", _("医院认定导入")
        OVERDUE = "overdue", _("超期")

    certification = models.ForeignKey(Certification, verbose_name=_("认定"), on_delete=models.CASCADE,
                                      related_name="events")
    action = models.CharField(_("操作"), max_length=12, choices=Action.choices)
    from_status = models.CharField(_("原状态"), max_length=12, choices=CertificationStatus.choices, blank=True)
    to_status = models.CharField(_("新状态"), max_length=12, choices=CertificationStatus.choices, blank=True)

    SCOPE_TOWNSHIP = "certification__township"

    class Meta(CaseEventBase.Meta):
        verbose_name = _("认定办理记录")
        verbose_name_plural = _("认定办理记录")
        indexes = [models.Index(fields=["certification", "at"])]


def material_upload_to(instance: "CertificationMaterial", filename: str) -> str:
    return f"chronic/{instance.certification_id}/{instance.sha256[:16]}{instance.extension}"


class CertificationMaterial(CaseMaterialBase):
    """Evidence of a certification (诊断证明、病历、检查报告…): an image or PDF, sniffed."""

    certification = models.ForeignKey(Certification, verbose_name=_("认定"), on_delete=models.PROTECT,
                                      related_name="materials")
    material_type = models.CharField(_("材料类型"), max_length=20, choices=CertificationMaterialType.choices)
    file = models.FileField(_("文件"), upload_to=material_upload_to, max_length=200)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "certification__township"

    class Meta(CaseMaterialBase.Meta):
        verbose_name = _("认定材料")
        verbose_name_plural = _("认定材料")


class CertificationNotice(CaseNoticeBase):
    """一次性告知: every missing item of a certification listed at once."""

    MATERIAL_TYPES = CertificationMaterialType

    certification = models.ForeignKey(Certification, verbose_name=_("认定"), on_delete=models.PROTECT,
                                      related_name="notices")

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "certification__township"

    class Meta(CaseNoticeBase.Meta):
        verbose_name = _("认定一次性告知书")
        verbose_name_plural = _("认定一次性告知书")
