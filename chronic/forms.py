"""Forms of the agent's chronic-disease pages (all writes go through services)."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CertificationMaterialType


class FileCertificationForm(forms.Form):
    disease = forms.ChoiceField(label=_("病种"), choices=())
    diagnosis = forms.CharField(label=_("诊断编码(ICD-10)"), max_length=16,
                                widget=forms.TextInput(attrs={"autocapitalize": "characters", "placeholder": "I10"}))
    note = forms.CharField(label=_("申请说明"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, diseases=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["disease"].choices = [(d.code, f"{d.code} {d.name}") for d in diseases]


class MaterialForm(forms.Form):
    material_type = forms.ChoiceField(label=_("材料类型"), choices=CertificationMaterialType.choices)
    file = forms.FileField(label=_("文件(PDF、JPG、PNG)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,image/*"}))


class NoteForm(forms.Form):
    note = forms.CharField(label=_("说明"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
