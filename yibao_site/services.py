"""Writes of kernel state: regions, staff accounts, policy parameters."""
from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .audit import audited_save
from .models import PolicyParameter, Region, RegionLevel, Role, User


@transaction.atomic
def region_save(*, code: str, name: str, level: str, parent_code: str | None, actor=None,
                reason: str = "") -> Region:
    """Create or update the region ``code``; keep the materialised paths of its subtree right."""
    parent = None
    if parent_code:
        parent = Region.objects.filter(code=parent_code).first()
        if parent is None:
            raise ValidationError({"parent": [_("上级区划 %(code)s 不存在。") % {"code": parent_code}]})
    region = Region.objects.select_for_update().filter(code=code).first() or Region(code=code)
    old_path = region.path
    region.name, region.level, region.parent = name, level, parent
    region.full_clean(validate_unique=region.pk is None)
    if parent is not None and region.pk and parent.path.startswith(old_path):
        raise ValidationError({"parent": [_("不能把区划挂到它自己的下级之下。")]})
    region.path = region.build_path()
    audited_save(region, actor=actor, reason=reason or _("保存区划"))
    if old_path and old_path != region.path:
        for child in Region.objects.filter(path__startswith=old_path).exclude(pk=region.pk).order_by("path"):
            child.path = region.path + child.path[len(old_path):]
            audited_save(child, actor=actor, reason=_("上级区划调整"), update_fields=["path"])
    return region


@transaction.atomic
def staff_save(*, username: str, role: str, township_code: str | None = None, password: str | None = None,
               region_code: str | None = None, actor=None) -> User:
    """Create or update a staff account with one role (API.md "Roles")."""
    if role not in Role.values:
        raise ValidationError({"role": [_("未知角色:%(role)s") % {"role": role}]})
    region = None
    code = township_code or region_code
    if code:
        region = Region.objects.filter(code=code).first()
        if region is None:
            raise ValidationError({"region": [_("区划 %(code)s 不存在。") % {"code": code}]})
    if role == Role.TOWNSHIP_AGENT and (region is None or region.level != RegionLevel.TOWNSHIP):
        raise ValidationError({"region": [_("乡镇经办必须绑定一个乡镇(街道)。")]})
    user = User.objects.select_for_update().filter(username=username).first() or User(username=username)
    user.role, user.region = role, region
    # Agents work in their own pages, never in the admin.
    user.is_staff = role != Role.TOWNSHIP_AGENT
    if password:
        user.set_password(password)
    elif user.pk is None:
        user.set_unusable_password()
    audited_save(user, actor=actor, reason=_("保存工作人员账号"))
    return user


@transaction.atomic
def policy_parameter_save(*, region: Region, key: str, value: Any, effective_from: date, source: str = "",
                          pack: str = "", illustrative: bool = False, note: str = "", actor=None,
                          reason: str = "") -> tuple[PolicyParameter, bool]:
    """Create or change one dated parameter; return it and whether anything changed.

    The key and value are checked against the declared schema (``policy_schema``) first.
    """
    from .policy_schema import clean_value

    value = clean_value(key, value, region=region)
    param = (PolicyParameter.objects.select_for_update()
             .filter(region=region, key=key, effective_from=effective_from).first())
    created = param is None
    if created:
        param = PolicyParameter(region=region, key=key, effective_from=effective_from)
    new = {"value": value, "source": source, "pack": pack, "illustrative": illustrative, "note": note}
    if not created and all(getattr(param, f) == v for f, v in new.items()):
        return param, False
    for f, v in new.items():
        setattr(param, f, v)
    param.full_clean(validate_unique=False)
    audited_save(param, actor=actor, reason=reason or (_("新增政策参数") if created else _("修改政策参数")))
    return param, True
