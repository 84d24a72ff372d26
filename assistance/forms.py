"""Forms of the agent pages and the admin's one-click actions (all writes go through services)."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ApplicationKind, DeterminationBasis, Material, MaterialType


class FileApplicationForm(forms.Form):
    kind = forms.ChoiceField(label=_("申请类型"), choices=ApplicationKind.choices)
    basis = forms.ChoiceField(label=_("认定依据(对象认定时填写)"), required=False,
                              choices=[("", _("—— 不适用 ——")), *DeterminationBasis.choices])
    note = forms.CharField(label=_("申请说明"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("kind") == ApplicationKind.DETERMINATION and not data.get("basis"):
            self.add_error("basis", _("对象认定申请请选择认定依据。"))
        if data.get("kind") != ApplicationKind.DETERMINATION:
            data["basis"] = ""
        return data


class MaterialForm(forms.Form):
    material_type = forms.ChoiceField(label=_("材料类型"), choices=MaterialType.choices)
    file = forms.FileField(label=_("文件(PDF、JPG、PNG)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,image/*"}))


class NoteForm(forms.Form):
    note = forms.CharField(label=_("说明"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("理由"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("不予批准的理由"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             error_messages={"required": _("不予批准必须说明理由。")})


class ReturnForm(forms.Form):
    """一次性告知: tick every missing material at once; "其他材料" needs its description."""

    missing = forms.MultipleChoiceField(label=_("需补正的材料(一次性列全)"), choices=MaterialType.choices,
                                        widget=forms.CheckboxSelectMultiple,
                                        error_messages={"required": _("退回补正必须一次性列明全部需补正的材料。")})
    detail = forms.CharField(label=_("具体要求(可选,将印在告知书上)"), required=False, max_length=200)
    other = forms.CharField(label=_("“其他材料”是指"), required=False, max_length=200)
    reason = forms.CharField(label=_("退回理由"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))

    def missing_items(self) -> list[dict]:
        detail, other = self.cleaned_data.get("detail", ""), self.cleaned_data.get("other", "")
        return [{"type": t, "note": other if t == MaterialType.OTHER else detail}
                for t in self.cleaned_data["missing"]]


class VerifyForm(forms.Form):
    note = forms.CharField(label=_("核实意见"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    property_check_passed = forms.TypedChoiceField(
        label=_("家庭财产核查结论"), required=False, empty_value=None,
        coerce=lambda v: {"yes": True, "no": False}.get(v),
        choices=[("", _("—— 不适用 ——")), ("yes", _("符合当地规定")), ("no", _("不符合"))])
    property_evidence = forms.ModelChoiceField(label=_("核查凭证"), queryset=Material.objects.none(), required=False)
    property_note = forms.CharField(label=_("财产核查说明"), required=False, max_length=2000,
                                    widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, application=None, **kwargs):
        super().__init__(*args, **kwargs)
        if application is not None:
            self.fields["property_evidence"].queryset = application.materials.filter(
                material_type=MaterialType.PROPERTY)


class PayoutForm(forms.Form):
    reference = forms.CharField(label=_("支付凭证号"), required=False, max_length=60)
