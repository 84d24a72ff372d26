"""Reads of members data, for pages, the API and the other apps (claims, assistance)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from yibao_site.scoping import scope_queryset

from . import rules
from .models import (
    AssistanceEntitlement, BatchStatus, Enrollment, Identity, OffsiteRegistration, Person, Relative, SubsidyBatch,
    SubsidyLine,
)


def person_list(*, user, search: str = "") -> QuerySet[Person]:
    """Persons ``user`` may see; ``search`` matches a whole ID, an ID prefix (6+ chars) or a name."""
    qs = scope_queryset(Person.objects.select_related("village", "township"), user)
    search = (search or "").strip()
    if search:
        if search[:1].isdigit():
            qs = qs.filter(id_number__startswith=search.upper()) if len(search) >= 6 else qs.none()
        else:
            qs = qs.filter(name__startswith=search)
    return qs


def enrollment_on(person_id: int, on: date) -> Enrollment | None:
    """The active enrolment whose benefit period covers ``on`` (for settlement)."""
    return (Enrollment.objects.filter(person_id=person_id, active=True, benefit_start__lte=on, benefit_end__gte=on)
            .order_by("-year").first())


def enrollment_for_year(person_id: int, year: int) -> Enrollment | None:
    """The active enrolment of a coverage year (benefit dates may show a waiting period)."""
    return Enrollment.objects.filter(person_id=person_id, year=year, active=True).first()


def identities_on(person_id: int, on: date) -> list[Identity]:
    return list(Identity.objects.filter(person_id=person_id, valid_from__lte=on)
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on)))


def entitlements_on(person_id: int, on: date, kind: str | None = None) -> list[AssistanceEntitlement]:
    qs = AssistanceEntitlement.objects.filter(person_id=person_id, valid_from__lte=on, valid_to__gte=on).filter(
        Q(revoked_on__isnull=True) | Q(revoked_on__gt=on))
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


def offsite_registration_on(person_id: int, on: date, kind: str | None = None) -> OffsiteRegistration | None:
    """The off-site registration in force on ``on`` (revoked ones end the day before revocation)."""
    qs = OffsiteRegistration.objects.filter(person_id=person_id, valid_from__lte=on, valid_to__gte=on)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-valid_from").first()


def subsidy_batch_totals(batch: SubsidyBatch, user=None) -> dict[str, list[dict]]:
    """Totals of a batch by identity kind and by township (scoped when ``user`` is given)."""
    lines = SubsidyLine.objects.filter(batch=batch)
    if user is not None:
        lines = scope_queryset(lines, user)
    by_kind = list(lines.values("kind").annotate(count=Count("id"), amount=Sum("amount")).order_by("kind"))
    by_township = list(lines.values("township__code", "township__name")
                       .annotate(count=Count("id"), amount=Sum("amount")).order_by("township__code"))
    return {"by_kind": by_kind, "by_township": by_township}


def enrollment_histories(person_ids: Iterable[int], before_year: int | None = None) -> dict[int, dict[int, rules.PriorYear]]:
    """Each person's enrolment years (any scheme) as ``PriorYear``s, in one query."""
    qs = Enrollment.objects.filter(person_id__any=set(person_ids))  # a set: Django walks a list
    if before_year is not None:
        qs = qs.filter(year__lt=before_year)
    result: dict[int, dict[int, rules.PriorYear]] = defaultdict(dict)
    for pid, year, waiting, paid in qs.values_list("person_id", "year", "waiting_period", "had_fund_payment"):
        add_prior_year(result[pid], year, waiting, paid)
    return result


def add_prior_year(history: dict[int, rules.PriorYear], year: int, waiting: bool, paid: bool) -> None:
    """Fold one enrolment into a person's ``PriorYear``s (``enrollment_histories``' rule)."""
    current = history.get(year)
    # Two schemes in one year: the year had a fund payment if either had one.
    history[year] = rules.PriorYear(
        year, waiting if current is None else current.waiting_period and waiting,
        paid or (current.had_fund_payment if current else False))


def confirmed_subsidies(person_ids: Iterable[int], year: int) -> dict[int, Decimal]:
    """State subsidy per person for ``year`` from confirmed batches, in one query."""
    return dict(SubsidyLine.objects.filter(person_id__any=set(person_ids), year=year,
                                           batch__status=BatchStatus.CONFIRMED)
                .values_list("person_id", "amount"))


def allowed_relation(payer: Person, relative: Person) -> str | None:
    """What ``relative`` is to ``payer``, from either direction of the recorded link."""
    links = dict(Relative.objects.filter(Q(person=payer, relative=relative) | Q(person=relative, relative=payer))
                 .values_list("person_id", "relation"))
    return rules.relation_of(links.get(payer.pk), links.get(relative.pk))
