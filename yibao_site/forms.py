"""Forms of our own pages inside the admin look like the admin's: every widget gets the
admin theme's (django-unfold) classes, so an input is a visible box, not a heading over
white space (Tailwind's reset strips unstyled inputs of their border)."""
from __future__ import annotations

from django import forms
from unfold import widgets as uw

_CLASSES = [
    (forms.CheckboxSelectMultiple, []),
    (forms.RadioSelect, []),
    (forms.CheckboxInput, uw.CHECKBOX_CLASSES),
    (forms.Select, uw.SELECT_CLASSES),
    (forms.Textarea, uw.TEXTAREA_CLASSES),
    (forms.ClearableFileInput, []),
    (forms.FileInput, []),
    (forms.DateInput, uw.DATETIME_CLASSES),
    (forms.widgets.Input, uw.INPUT_CLASSES),
]


def style_widget(widget: forms.Widget) -> None:
    for kind, classes in _CLASSES:
        if isinstance(widget, kind):
            if classes:
                existing = widget.attrs.get("class", "")
                widget.attrs["class"] = " ".join([*classes, existing]).strip()
            return


def style_form(form: forms.BaseForm) -> forms.BaseForm:
    for field in form.fields.values():
        style_widget(field.widget)
    return form


class AdminStyledFormMixin:
    """Mix into a ``forms.Form`` rendered on an admin page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_form(self)
