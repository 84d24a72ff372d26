"""Partner departments: their API accounts and their push endpoints (who receives a list)."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Region, RegionLevel, User

from ..models import Department, PartnerAccount, PushEndpoint
from .common import SUPERVISOR, error


def endpoint_for(region: Region, department: str) -> PushEndpoint | None:
    """The active endpoint of the nearest region in ``region``'s chain (county before city)."""
    chain = region.ancestors_codes()
    found = list(PushEndpoint.objects.filter(region__code__in=chain, department=department, active=True)
                 .select_related("region"))
    found.sort(key=lambda e: chain.index(e.region.code), reverse=True)
    return found[0] if found else None


@transaction.atomic
def partner_account_save(*, username: str, department: str, region_code: str | None = None,
                         password: str | None = None, active: bool = True, actor) -> PartnerAccount:
    """Create or update a partner-department API account (no staff role, no admin access)."""
    require_actor(actor, SUPERVISOR)
    if department not in Department.values:
        raise error("department", _("部门应为 civil_affairs 或 rural_revitalization。"))
    region = None
    if region_code:
        region = Region.objects.filter(code=region_code).first()
        if region is None or region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
            raise error("region", _("协作部门账号应绑定市或县(区)级区划。"))
    user = User.objects.select_for_update().filter(username=username).first()
    if user is not None and user.role:
        raise error("username", _("该用户名已是工作人员账号,不能用作协作部门账号。"))
    user = user or User(username=username)
    user.role, user.region, user.is_staff, user.is_superuser = "", region, False, False
    if password:
        user.set_password(password)
    elif user.pk is None:
        user.set_unusable_password()
    audited_save(user, actor=actor, reason=_("保存协作部门账号"))
    account = PartnerAccount.objects.select_for_update().filter(user=user).first() or PartnerAccount(user=user)
    account.department, account.active = department, active
    audited_save(account, actor=actor, reason=_("保存协作部门账号"))
    return account


@transaction.atomic
def endpoint_save(*, region: Region, department: str, url: str, secret: str, active: bool = True, note: str = "",
                  actor) -> PushEndpoint:
    """Create or change a department's push endpoint for a region."""
    require_actor(actor, SUPERVISOR)
    endpoint = (PushEndpoint.objects.select_for_update().filter(region=region, department=department).first()
                or PushEndpoint(region=region, department=department))
    endpoint.url, endpoint.secret, endpoint.active, endpoint.note = url, secret, active, note
    endpoint.full_clean(validate_unique=False)
    if region.level not in (RegionLevel.CITY, RegionLevel.COUNTY):
        raise error("region", _("推送接口配置在市或县(区)级区划。"))
    if len(secret or "") < 16:
        raise error("secret", _("签名密钥至少16个字符。"))
    audited_save(endpoint, actor=actor, reason=_("保存推送接口"))
    return endpoint
