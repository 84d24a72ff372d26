"""The forms of the claims admin pages: manual reimbursement with its bills, finance's voucher
for 补付/追回, a fund entry."""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from members.models import Person
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.idnumbers import normalise_id_number
from yibao_site.scoping import scope_queryset

from ..models import FundEntry, VisitType


class ManualClaimForm(AdminStyledFormMixin, forms.Form):
    person = forms.CharField(label=_("公民身份号码"), max_length=18)
    visit_type = forms.ChoiceField(label=_("就诊类型"), choices=VisitType.choices)
    hospital_level = forms.TypedChoiceField(label=_("医院级别"), coerce=int,
                                            choices=[(1, _("一级")), (2, _("二级")), (3, _("三级"))])
    service_date = forms.DateField(label=_("就诊(出院)日期"), widget=forms.DateInput(attrs={"type": "date"}))
    admission_date = forms.DateField(label=_("入院日期"), required=False,
                                     widget=forms.DateInput(attrs={"type": "date"}))
    in_province = forms.BooleanField(label=_("省内就医"), required=False, initial=True)
    referred = forms.BooleanField(label=_("规范转诊"), required=False)
    disease = forms.CharField(label=_("慢特病病种编码"), max_length=20, required=False,
                              help_text=_("门诊慢特病填写目录中的病种编码;未认定的病种不享受慢特病待遇。"))
    diagnosis = forms.CharField(label=_("诊断编码(ICD-10)"), max_length=16, required=False,
                                help_text=_("两病(高血压、糖尿病)门诊用药按诊断编码享受两病报销比例。"))
    in_region = forms.BooleanField(label=_("统筹区内就医"), required=False, initial=True,
                                   help_text=_("在本市(统筹区)内就医;统筹区外就医未转诊且无有效异地就医备案的,不予医疗救助"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_person(self):
        idn = normalise_id_number(self.cleaned_data["person"])
        person = scope_queryset(Person.objects.filter(id_number=idn), self.user).first()
        if person is None:
            raise forms.ValidationError(_("参保人不存在或不在您的辖区。"))
        return person

    def settlement_kwargs(self, lines) -> dict:
        total = sum((b["total_cost"] for b in lines), Decimal("0.00"))
        scope = sum((b["policy_scope_cost"] for b in lines), Decimal("0.00"))
        d = self.cleaned_data
        return {"person": d["person"], "visit_type": d["visit_type"], "hospital_level": d["hospital_level"],
                "service_date": d["service_date"], "admission_date": d.get("admission_date"),
                "in_province": d["in_province"], "referred": d["referred"], "in_region": d["in_region"],
                "total_cost": total,
                "policy_scope_cost": scope, "disease": d.get("disease", ""), "diagnosis": d.get("diagnosis", ""),
                "bills": [{"number": b.get("number", ""), "total_cost": f"{b['total_cost']:.2f}",
                           "policy_scope_cost": f"{b['policy_scope_cost']:.2f}"} for b in lines]}


class BillForm(AdminStyledFormMixin, forms.Form):
    number = forms.CharField(label=_("票据号"), max_length=40, required=False)
    total_cost = forms.DecimalField(label=_("医疗总费用"), max_digits=14, decimal_places=2, min_value=0, required=False)
    policy_scope_cost = forms.DecimalField(label=_("政策范围内费用"), max_digits=14, decimal_places=2, min_value=0,
                                           required=False)

    def clean(self):
        data = super().clean()
        total, scope = data.get("total_cost"), data.get("policy_scope_cost")
        if (total is None) != (scope is None):
            raise forms.ValidationError(_("请同时填写总费用和政策范围内费用。"))
        if total is not None and scope is not None and scope > total:
            raise forms.ValidationError(_("政策范围内费用不能超过医疗总费用。"))
        return data


BillFormSet = formset_factory(BillForm, extra=3, max_num=30, validate_max=True)


class SettleCashForm(forms.Form):
    reference = forms.CharField(label=_("支付或追回凭证号"), max_length=60)


class FundEntryForm(forms.ModelForm):
    class Meta:
        model = FundEntry
        fields = ["fund", "region", "month", "kind", "amount", "note"]
