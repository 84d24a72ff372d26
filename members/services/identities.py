"""Poverty identities (困难身份): one at a time at the window, or a department's whole monthly
list compared with what is held from that source (身份名单月度比对)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_create_audited, bulk_update_audited
from yibao_site.idnumbers import normalise_id_number

from .. import rules
from ..models import Identity, IdentityImport, IdentityKind, IdentitySource, Person
from .common import CLERKS, IDENTITY_LIST_APPLIERS, IDENTITY_WRITERS, error

_IDENTITY_KINDS = frozenset(IdentityKind.values)
_IDENTITY_SOURCES = frozenset(IdentitySource.values)


def identity_validate(*, kind: str, valid_from: date | None, valid_to: date | None, source: str) -> None:
    """Field checks of one identity, in memory."""
    errors = {}
    if kind not in _IDENTITY_KINDS:
        errors["kind"] = [_("身份类别无效:%(kind)s") % {"kind": kind}]
    if source not in _IDENTITY_SOURCES:
        errors["source"] = [_("来源应为 civil_affairs、rural_revitalization 或 bureau。")]
    if valid_from is None:
        errors["valid_from"] = [_("请填写有效期起。")]
    elif valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = [_("有效期止不能早于有效期起。")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def identity_add(*, person: Person, kind: str, valid_from: date, valid_to: date | None = None, source: str,
                 actor=None) -> Identity:
    """Record a poverty identity (困难身份) over a period; periods of one kind never overlap."""
    require_actor(actor, IDENTITY_WRITERS)
    identity_validate(kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)
    Person.objects.select_for_update().filter(pk=person.pk).first()
    for other in Identity.objects.filter(person=person, kind=kind):
        if rules.periods_overlap(valid_from, valid_to, other.valid_from, other.valid_to):
            raise error("valid_from", _("与该人员已有的同类身份(%(from)s 起)期间重叠。") % {"from": other.valid_from})
    identity = Identity(person=person, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)
    audited_save(identity, actor=actor, reason=_("登记困难身份"))
    return identity


@transaction.atomic
def identity_end(*, identity: Identity, valid_to: date, actor=None) -> Identity:
    """End an identity on ``valid_to`` (its last valid day)."""
    require_actor(actor, CLERKS)
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if valid_to < identity.valid_from:
        raise error("valid_to", _("有效期止不能早于有效期起。"))
    identity.valid_to = valid_to
    audited_save(identity, actor=actor, reason=_("终止困难身份"), update_fields=["valid_to"])
    return identity


@dataclass(frozen=True)
class IdentityListRow:
    """One line of a department's monthly list (``line`` is its row number in the file)."""

    line: int
    id_number: str
    kind: str
    valid_from: date | None
    valid_to: date | None = None


@dataclass
class IdentityListReport:
    new: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    ended: list[dict] = field(default_factory=list)
    unchanged: int = 0
    errors: dict[int, list[str]] = field(default_factory=dict)
    record: IdentityImport | None = None


@transaction.atomic
def identity_list_apply(*, source: str, as_of: date, rows: list[IdentityListRow], file_name: str = "",
                        dry_run: bool = False, actor=None) -> IdentityListReport:
    """Compare a department's full monthly list with the identities held from that source and
    apply the difference in one transaction (身份名单月度比对).

    - on the list, no current identity of that kind from the source ⇒ **new**;
    - on the list with a different period ⇒ **changed** (the current identity's period is updated);
    - current (open on ``as_of``) but missing from the list ⇒ **ended** on the day before ``as_of``.
    Any bad row rejects the whole list (``report.errors`` by row number, nothing written).
    A second apply of the same list changes nothing.
    """
    require_actor(actor, IDENTITY_LIST_APPLIERS, system=True)
    report = IdentityListReport()
    if source not in IdentitySource.values:
        raise error("source", _("来源应为 civil_affairs、rural_revitalization 或 bureau。"))
    ids = {normalise_id_number(r.id_number) for r in rows}
    persons = dict(Person.objects.filter(id_number__in=ids).values_list("id_number", "pk"))
    wanted: dict[tuple[int, str], IdentityListRow] = {}
    for row in rows:
        msgs = []
        try:
            identity_validate(kind=row.kind, valid_from=row.valid_from, valid_to=row.valid_to, source=source)
        except ValidationError as exc:
            msgs += [f"{k}: {m}" for k, v in exc.message_dict.items() for m in v]
        pid = persons.get(normalise_id_number(row.id_number))
        if pid is None:
            msgs.append(_("id_number: 人员未登记。"))
        elif (pid, row.kind) in wanted:
            msgs.append(_("同一人员同一身份在名单中重复(第 %(line)s 行)。") % {"line": wanted[(pid, row.kind)].line})
        if msgs:
            report.errors[row.line] = msgs
        else:
            wanted[(pid, row.kind)] = row
    if report.errors:
        return report
    current = {}
    for ident in (Identity.objects.select_for_update().filter(source=source)
                  .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=as_of)).order_by("pk")):
        current.setdefault((ident.person_id, ident.kind), ident)
    to_create, to_update, to_end = [], [], []
    for key, row in wanted.items():
        ident = current.get(key)
        entry = {"id_number": row.id_number, "kind": row.kind, "line": row.line}
        if ident is None:
            to_create.append(Identity(person_id=key[0], kind=row.kind, valid_from=row.valid_from,
                                      valid_to=row.valid_to, source=source))
            report.new.append(entry)
        elif (ident.valid_from, ident.valid_to) != (row.valid_from, row.valid_to):
            entry["before"] = [str(ident.valid_from), str(ident.valid_to or "")]
            ident.valid_from, ident.valid_to = row.valid_from, row.valid_to
            to_update.append(ident)
            report.changed.append(entry)
        else:
            report.unchanged += 1
    end_day = as_of - timedelta(days=1)
    id_of = {pk: idn for idn, pk in persons.items()}
    gone = [ident for key, ident in current.items() if key not in wanted]
    if gone:
        id_of.update(dict(Person.objects.filter(pk__in=[g.person_id for g in gone]).values_list("pk", "id_number")))
    for ident in gone:
        ident.valid_to = max(end_day, ident.valid_from)
        to_end.append(ident)
        report.ended.append({"id_number": id_of[ident.person_id], "kind": ident.kind})
    if dry_run:
        return report
    # New rows must not overlap earlier identities of the same kind (from any source).
    if to_create:
        clash = defaultdict(list)
        for ident in Identity.objects.filter(person_id__in={i.person_id for i in to_create},
                                             kind__in={i.kind for i in to_create}).exclude(source=source):
            clash[(ident.person_id, ident.kind)].append(ident)
        for new in to_create:
            for other in clash.get((new.person_id, new.kind), []):
                if rules.periods_overlap(new.valid_from, new.valid_to, other.valid_from, other.valid_to):
                    line = wanted[(new.person_id, new.kind)].line
                    report.errors.setdefault(line, []).append(
                        _("与其他来源的同类身份(%(from)s 起)期间重叠。") % {"from": other.valid_from})
        if report.errors:
            report.new, report.changed, report.ended, report.unchanged = [], [], [], 0
            return report
    reason = _("身份名单比对 %(source)s %(as_of)s") % {"source": source, "as_of": as_of}
    bulk_create_audited(to_create, Identity, actor=actor, reason=reason)
    bulk_update_audited(to_update, Identity, ["valid_from", "valid_to"], actor=actor, reason=reason)
    bulk_update_audited(to_end, Identity, ["valid_to"], actor=actor, reason=reason)
    record = IdentityImport(source=source, as_of=as_of, file_name=file_name[:200], new_count=len(report.new),
                            changed_count=len(report.changed), ended_count=len(report.ended),
                            unchanged_count=report.unchanged,
                            report={"new": report.new, "changed": report.changed, "ended": report.ended},
                            created_by=actor if getattr(actor, "is_authenticated", False) else None)
    audited_save(record, actor=actor, reason=reason)
    report.record = record
    return report
