"""Persons and their close relatives (参保登记, 近亲属)."""
from __future__ import annotations

from datetime import date
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.idnumbers import normalise_id_number, parse_id_number, validate_region_prefix
from yibao_site.models import Region, RegionLevel

from .. import rules
from ..models import Person, Relation, Relative
from .common import CLERKS, error, messages_of


class PersonValues(NamedTuple):
    """A validated person as plain values (an importer writes these without model instances)."""

    id_number: str
    name: str
    sex: str
    birth_date: date
    village_id: int
    township_id: int
    phone: str
    household_no: str
    id_outside_county: bool


def person_check(*, id_number: str, name: str, village: Region | None, phone: str = "",
                 household_no: str = "", county_code: str | None = None) -> PersonValues:
    """Validate one person in memory and return its values (no queries).

    The ID must pass GB 11643 (format, check character, a real birth date) and start with a
    real province code; birth date and sex are derived from it.  Its first six digits name
    where the ID was issued, not where the person lives, so a mismatch with the village's
    county is accepted and flagged (``id_outside_county``) rather than refused: people who
    moved in keep their IDs.  ``county_code`` is the village's county when the caller knows
    it already (an import works it out once per village).
    """
    errors: dict[str, list[str]] = {}
    id_number = normalise_id_number(id_number)
    birth = sex = None
    try:
        birth, sex = parse_id_number(id_number)
        validate_region_prefix(id_number)
    except ValidationError as exc:
        errors["id_number"] = messages_of(exc)
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("请填写姓名。")]
    elif len(name) > 50:
        errors["name"] = [_("姓名不能超过50个字符。")]
    phone = (phone or "").strip()
    if phone and (len(phone) > 20 or not phone.replace("-", "").isdigit()):
        errors["phone"] = [_("联系电话只能包含数字和连字符,最多20位。")]
    household_no = (household_no or "").strip()
    if len(household_no) > 30:
        errors["household_no"] = [_("户号不能超过30个字符。")]
    if village is None:
        errors["village"] = [_("村(社区)不存在。")]
    elif village.level != RegionLevel.VILLAGE or not village.parent_id:
        errors["village"] = [_("请选择村(社区)一级的区划。")]
    if errors:
        raise ValidationError(errors)
    if county_code is None:
        county_code = village.county_code() or ""
    return PersonValues(id_number, name, sex, birth, village.pk, village.parent_id, phone, household_no,
                        id_number[:6] != county_code[:6])


def person_build(*, id_number: str, name: str, village: Region | None, phone: str = "",
                 household_no: str = "") -> Person:
    """Validate one person in memory (``person_check``) and return an unsaved ``Person``."""
    v = person_check(id_number=id_number, name=name, village=village, phone=phone, household_no=household_no)
    return Person(id_number=v.id_number, name=v.name, sex=v.sex, birth_date=v.birth_date, village=village,
                  township_id=v.township_id, phone=v.phone, household_no=v.household_no,
                  id_outside_county=v.id_outside_county)


@transaction.atomic
def person_register(*, id_number: str, name: str, village_code: str, phone: str = "", household_no: str = "",
                    actor=None) -> Person:
    """Register a person (参保登记); the township comes from the village."""
    require_actor(actor, CLERKS)
    village = Region.objects.filter(code=(village_code or "").strip()).first()
    person = person_build(id_number=id_number, name=name, village=village, phone=phone, household_no=household_no)
    if Person.objects.filter(id_number=person.id_number).exists():
        raise error("id_number", _("该公民身份号码已登记。"))
    audited_save(person, actor=actor, reason=_("参保登记"))
    return person


@transaction.atomic
def person_update(*, person: Person, name: str | None = None, village_code: str | None = None,
                  phone: str | None = None, household_no: str | None = None, actor=None) -> Person:
    """Change a person's name, village, phone or household; the ID (and what it encodes) never changes."""
    require_actor(actor, CLERKS)
    person = Person.objects.select_for_update().select_related("village").get(pk=person.pk)
    village = person.village
    if village_code is not None and village_code != village.code:
        village = Region.objects.filter(code=village_code.strip()).first()
    checked = person_build(
        id_number=person.id_number, name=person.name if name is None else name, village=village,
        phone=person.phone if phone is None else phone,
        household_no=person.household_no if household_no is None else household_no,
    )
    changed = [f for f in ("name", "phone", "household_no", "village_id", "township_id", "id_outside_county")
               if getattr(person, f) != getattr(checked, f)]
    if changed:
        for f in changed:
            setattr(person, f, getattr(checked, f))
        audited_save(person, actor=actor, reason=_("修改人员信息"), update_fields=changed)
    return person


_OLDER = {Relation.PARENT, Relation.GRANDPARENT}
_YOUNGER = {Relation.CHILD, Relation.GRANDCHILD}


@transaction.atomic
def relative_add(*, person: Person, relative: Person, relation: str, actor=None) -> Relative:
    """Record that ``relative`` is the ``relation`` of ``person`` (近亲属)."""
    require_actor(actor, CLERKS)
    if relation not in Relation.values:
        raise error("relation", _("关系应为:%(choices)s") % {"choices": ", ".join(Relation.values)})
    if person.pk == relative.pk:
        raise error("relative", _("不能把本人登记为自己的亲属。"))
    if relation in _OLDER and relative.birth_date >= person.birth_date:
        raise error("relation", _("登记为父母或祖父母的亲属应比本人年长。"))
    if relation in _YOUNGER and relative.birth_date <= person.birth_date:
        raise error("relation", _("登记为子女或孙子女的亲属应比本人年幼。"))
    if Relative.objects.filter(person=person, relative=relative).exists():
        raise error("relative", _("该亲属关系已登记。"))
    reverse = Relative.objects.filter(person=relative, relative=person).first()
    if reverse is not None and rules.INVERSE_RELATION[reverse.relation] != relation:
        raise error("relation", _("与已登记的反向关系(%(rel)s)矛盾。") % {"rel": reverse.get_relation_display()})
    link = Relative(person=person, relative=relative, relation=relation)
    audited_save(link, actor=actor, reason=_("登记近亲属"))
    return link


@transaction.atomic
def relative_remove(*, link: Relative, actor=None) -> None:
    """Remove a relative link (the history keeps it)."""
    require_actor(actor, CLERKS)
    if actor is not None and getattr(actor, "is_authenticated", False):
        link._history_user = actor
    link._change_reason = _("删除近亲属")
    link.delete()


