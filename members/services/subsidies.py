"""Subsidised enrolment batches (资助参保): who the state pays the premium for, how much, and
the supervisor's confirmation that freezes the list for the tax bureau."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.money import ZERO
from yibao_site.models import Region, RegionLevel
from yibao_site.policy import PolicyCache

from .. import rules
from ..models import BatchStatus, Identity, SubsidyBatch, SubsidyLine
from ..policy import KIND_ORDER, subsidy_params
from .common import BATCH_BUILDERS, SUPERVISORS, error


def combined_version(versions: set[str]) -> str:
    if len(versions) <= 1:
        return next(iter(versions), "")
    return "mixed#" + hashlib.sha1("|".join(sorted(versions)).encode()).hexdigest()[:10]


@transaction.atomic
def subsidy_batch_build(*, region: Region, year: int, actor=None) -> SubsidyBatch:
    """Build (or rebuild, while still a draft) the subsidy batch of ``region`` and below for ``year``.

    Every person with an identity counting for the year (valid on 1 Jan or any later day)
    gets one line: the identity giving the **highest** subsidy (就高不就低, never two), amount =
    rate × that year's premium, or the phase-out rate × the phase-out base.  A confirmed batch
    is frozen; batches of overlapping regions for one year are refused.
    """
    require_actor(actor, BATCH_BUILDERS)
    if region.level == RegionLevel.VILLAGE:
        raise error("region", _("资助参保批次按市、县或乡镇生成。"))
    batch = SubsidyBatch.objects.select_for_update().filter(region=region, year=year).first()
    if batch is not None and batch.status == BatchStatus.CONFIRMED:
        raise error("detail", _("该批次已由管理员确认,已冻结,不能重算。"))
    overlap = (SubsidyBatch.objects.filter(year=year).exclude(region=region)
               .filter(Q(region__path__startswith=region.path) | Q(region__code__in=region.ancestors_codes())))
    if overlap.exists():
        raise error("region", _("该年度已有覆盖重叠区划的资助批次:%(names)s")
                     % {"names": ", ".join(str(b.region) for b in overlap.select_related("region"))})
    if batch is None:
        batch = SubsidyBatch(region=region, year=year)
        audited_save(batch, actor=actor, reason=_("新建资助参保批次"))
    else:
        batch.lines.all().delete()
    jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
    idents = (Identity.objects.filter(person__village__path__startswith=region.path, valid_from__lte=dec31)
              .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=jan1))
              .values_list("pk", "person_id", "kind", "person__township_id").order_by("person_id", "pk"))
    by_person: dict[int, dict[str, int]] = defaultdict(dict)
    township_of: dict[int, int] = {}
    for pk, pid, kind, township_id in idents:
        by_person[pid].setdefault(kind, pk)
        township_of[pid] = township_id
    townships = {r.pk: r for r in Region.objects.filter(pk__in=set(township_of.values()))}
    cache = PolicyCache()
    params: dict[int, tuple] = {}
    versions = set()
    lines = []
    for pid, kinds in by_person.items():
        tid = township_of[pid]
        if tid not in params:
            snap = cache.get(townships[tid], jan1)
            params[tid] = subsidy_params(snap)
            versions.add(snap.version)
        premium, rates, phaseout = params[tid]
        choice = rules.highest_subsidy(list(kinds), premium=premium, rates=rates, phaseout=phaseout, order=KIND_ORDER)
        if choice is None:
            continue
        lines.append(SubsidyLine(batch=batch, person_id=pid, year=year, township_id=tid, identity_id=kinds[choice.kind],
                                 kind=choice.kind, rate=choice.rate, premium=choice.premium, amount=choice.amount))
    taken = set(SubsidyLine.objects.filter(year=year, person_id__in=[ln.person_id for ln in lines])
                .exclude(batch=batch).values_list("person_id", flat=True))
    if taken:
        raise error("detail", _("%(n)s 人已在本年度其他资助批次中,不得重复资助。") % {"n": len(taken)})
    SubsidyLine.objects.bulk_create(lines, batch_size=2000)
    batch.count = len(lines)
    batch.total_amount = sum((ln.amount for ln in lines), ZERO)
    batch.policy_version = combined_version(versions)[:60]
    batch.built_at = timezone.now()
    batch.built_by = actor if getattr(actor, "is_authenticated", False) else None
    audited_save(batch, actor=actor, reason=_("生成资助参保名单"),
                 update_fields=["count", "total_amount", "policy_version", "built_at", "built_by"])
    return batch


@transaction.atomic
def subsidy_batch_confirm(*, batch: SubsidyBatch, actor) -> SubsidyBatch:
    """A supervisor confirms a batch: from then on it is frozen (no rebuild)."""
    require_actor(actor, SUPERVISORS, message=_("只有管理员可以确认资助参保批次。"))
    batch = SubsidyBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == BatchStatus.CONFIRMED:
        raise error("detail", _("该批次已确认。"))
    if batch.built_at is None:
        raise error("detail", _("批次尚未生成名单。"))
    batch.status = BatchStatus.CONFIRMED
    batch.confirmed_at = timezone.now()
    batch.confirmed_by = actor
    audited_save(batch, actor=actor, reason=_("确认资助参保批次"), update_fields=["status", "confirmed_at", "confirmed_by"])
    return batch
