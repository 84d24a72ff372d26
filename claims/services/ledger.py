"""The person-year ledger after the fact: re-settlement from scratch (重新结算) and the
adjustment and payout entries it writes (补付/追回), the fund-payment follow-up in members, and
finance's cash settlement of the entries."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members.models import Enrollment, Person, Scheme
from members.public import enrollment_caps_changes, enrollment_caps_refresh_persons, enrollment_record_fund_payments
from yibao_site.actors import require_actor
from yibao_site.audit import bulk_create_audited, bulk_update_audited
from yibao_site.models import Role
from yibao_site.money import ZERO
from yibao_site.policy import PolicyCache

from .. import rules
from ..models import CashStatus, Claim, ClaimStatus, EntryKind, LedgerEntry, PersonYearLedger
from .engine import (
    _fold, _hold_ledgers, _live_claims, _load_context, _lock_ledgers, _release_ledgers, _write_ledgers, claim_input_of,
)
from .roles import FINANCE_ROLES, RESETTLE_ROLES


TIER_FIELDS = {
    "basic": ("basic_inpatient_paid", "basic_outpatient_paid", "basic_chronic_paid"),
    "critical": ("critical_paid",), "assistance": ("assistance_paid",), "second_round": ("second_round_paid",),
}
TIER_LABELS = {"basic": "基本医保", "critical": "大病保险", "assistance": "医疗救助", "second_round": "再救助/倾斜救助"}


def _as_delta(raw: dict | None) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in (raw or {}).items() if k in rules.LEDGER_FIELDS}


def _recorded_deltas(keys: set[tuple[int, int]]) -> dict[int, dict[str, Decimal]]:
    """What the ledger holds today for each claim of ``keys``: its own settlement, its reversal
    entry and every payout and adjustment entry written for it."""
    out: dict[int, dict[str, Decimal]] = defaultdict(rules.empty_ledger)
    pids, years = {p for p, _y in keys}, {y for _p, y in keys}
    rows = (Claim.objects.filter(person_id__in=pids, year__in=years)
            .values_list("id", "person_id", "year", "status", "reversal_of_id", "breakdown"))
    for cid, pid, year, status, reversal_of, breakdown in rows:
        if (pid, year) in keys:
            target = reversal_of if status == ClaimStatus.REVERSAL else cid
            rules.apply_delta(out[target], _as_delta((breakdown or {}).get("ledger_delta")))
    for cid, pid, year, delta in (LedgerEntry.objects.filter(person_id__in=pids, year__in=years)
                                  .exclude(claim_id=None).values_list("claim_id", "person_id", "year", "delta")):
        if (pid, year) in keys:
            rules.apply_delta(out[cid], _as_delta(delta))
    return out


def _tier_amounts(delta: dict[str, Decimal]) -> dict[str, Decimal]:
    return {tier: sum((delta.get(f, ZERO) for f in fields), ZERO) for tier, fields in TIER_FIELDS.items()}


def _entries_for(keys: set[tuple[int, int]], expected: dict[int, tuple[dict[str, Decimal], str]],
                 recorded: dict[int, dict[str, Decimal]], claims_by_id: dict[int, Claim], *,
                 why: dict[tuple[int, int], str], kind: str, application_id: int | None, actor) -> list:
    """The entries that bring each claim's recorded amounts to what settling from scratch gives
    (``expected``: claim id → (ledger delta, policy version); a claim not in it — reversed —
    is expected to hold nothing)."""
    creator = actor if getattr(actor, "is_authenticated", False) else None
    entries = []
    batch = timezone.now().strftime("R%Y%m%d%H%M%S%f")
    for cid in sorted(set(expected) | set(recorded)):
        claim = claims_by_id.get(cid)
        if claim is None or claim.status == ClaimStatus.REVERSAL or (claim.person_id, claim.year) not in keys:
            continue
        want, version = expected.get(cid, ({}, ""))
        have = recorded.get(cid) or rules.empty_ledger()
        diff = {f: want.get(f, ZERO) - have.get(f, ZERO) for f in rules.LEDGER_FIELDS}
        diff = {f: v for f, v in diff.items() if v}
        if not diff:
            continue
        tiers = _tier_amounts(diff)
        fund_change = sum(tiers.values(), ZERO)
        changes = []
        for tier, amount in tiers.items():
            if amount:
                before = sum((have.get(f, ZERO) for f in TIER_FIELDS[tier]), ZERO)
                changes.append(_("%(tier)s由%(before)s元调整为%(after)s元") % {
                    "tier": _(TIER_LABELS[tier]), "before": rules.yuan(before), "after": rules.yuan(before + amount)})
        if fund_change > 0:
            direction, cash = _("补付%(a)s元") % {"a": rules.yuan(fund_change)}, CashStatus.TO_PAY
        elif fund_change < 0:
            direction, cash = _("追回%(a)s元") % {"a": rules.yuan(-fund_change)}, CashStatus.TO_RECOVER
        else:
            direction, cash = _("基金支付总额不变"), CashStatus.NONE
        key = (claim.person_id, claim.year)
        text = _("%(why)s:%(date)s 结算单 #%(id)s %(changes)s,%(direction)s。") % {
            "why": why[key], "date": claim.service_date.isoformat(), "id": cid,
            "changes": ";".join(changes) or _("起付线与限额的累计基数调整"), "direction": direction}
        entries.append(LedgerEntry(
            person_id=key[0], year=key[1], kind=kind, claim_id=cid, application_id=application_id, batch=batch,
            basic=tiers["basic"], critical=tiers["critical"], assistance=tiers["assistance"],
            second_round=tiers["second_round"], out_of_pocket=diff.get("out_of_pocket", ZERO),
            delta={f: str(v) for f, v in diff.items()}, reason=text, policy_version=version or claim.policy_version,
            cash_status=cash, created_by=creator))
    return entries


def _claims_of(keys: set[tuple[int, int]]) -> dict[int, Claim]:
    rows = Claim.objects.filter(person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys}).only(
        "id", "person_id", "year", "status", "service_date", "policy_version")
    return {c.pk: c for c in rows if (c.person_id, c.year) in keys}


def _write_adjustments(existing, expected, *, why, actor, kind, application_id=None) -> list:
    keys = set(existing)
    entries = _entries_for(keys, expected, _recorded_deltas(keys), _claims_of(keys), why=why, kind=kind,
                           application_id=application_id, actor=actor)
    if entries:
        entries = bulk_create_audited(entries, LedgerEntry, actor=actor, reason=_("重新结算"), batch_size=1000)
    return entries


@dataclass
class Resettlement:
    """What re-settling some person-years found (and wrote, when confirmed)."""

    entries: list
    states: dict[tuple[int, int], dict[str, Decimal]]
    confirmed: bool

    @property
    def total(self) -> dict[str, Decimal]:
        out = {t: ZERO for t in TIER_FIELDS}
        for e in self.entries:
            for t in TIER_FIELDS:
                out[t] += getattr(e, t)
        return out


@transaction.atomic
def person_years_resettle(*, keys: set[tuple[int, int]], actor, reason: str, confirm: bool = True,
                          kind: str = EntryKind.ADJUSTMENT, application_id: int | None = None,
                          cache: PolicyCache | None = None) -> Resettlement:
    """Settle person-years again from scratch with the facts known now (重新结算) and write the
    differences as entries (``adjustment``: 补付/追回; ``payout`` for an approval's one-time
    payment), each with a readable reason; the claims themselves are never edited.

    ``confirm=False`` computes the same entries without writing anything (预览).  Running it
    again once confirmed finds nothing more to change.  Set-based: the claims, entries and
    facts of all ``keys`` are loaded in a few queries.  A reviewer or supervisor (an
    assistance approval's one-time payment), or a job (``resettle_ledgers``).
    """
    require_actor(actor, RESETTLE_ROLES, system=True)
    return _resettle(keys=keys, actor=actor, reason=reason, confirm=confirm, kind=kind,
                     application_id=application_id, cache=cache)


def _resettle(*, keys: set[tuple[int, int]], actor, reason: str, confirm: bool = True,
              kind: str = EntryKind.ADJUSTMENT, application_id: int | None = None,
              cache: PolicyCache | None = None, follow: bool = True, depth: int = 0) -> Resettlement:
    """:func:`person_years_resettle` for callers that checked their own actor (a reversal, the
    fund-payment follow-up, the nightly check); run inside the caller's transaction."""
    keys = set(keys)
    if not keys:
        return Resettlement([], {}, confirm)
    if confirm:
        rows = _lock_ledgers(keys)
    else:
        rows = {(r.person_id, r.year): r for r in PersonYearLedger.objects.filter(
            person_id__in={p for p, _y in keys}, year__in={y for _p, y in keys}) if (r.person_id, r.year) in keys}
    existing = _live_claims(keys)
    ctx = _load_context([claim_input_of(c) for cs in existing.values() for c in cs] or [], cache) \
        if existing else None
    states: dict[tuple[int, int], dict[str, Decimal]] = {}
    expected: dict[int, tuple[dict[str, Decimal], str]] = {}
    with rules.language("zh-hans"):
        for key in sorted(keys):
            if key in existing:
                states[key], old, _fresh = _fold(ctx, existing[key], [])
                expected.update({cid: (delta, claim.policy_version) for cid, (claim, delta) in old.items()})
            else:
                states[key] = rules.empty_ledger()
        why = {key: reason for key in keys}
        entries = _entries_for(keys, expected, _recorded_deltas(keys), _claims_of(keys), why=why, kind=kind,
                               application_id=application_id, actor=actor)
    if not confirm:
        return Resettlement(entries, states, False)
    if entries:
        entries = bulk_create_audited(entries, LedgerEntry, actor=actor, reason=reason, batch_size=1000)
    now = timezone.now()
    changed = []
    for key, row in rows.items():
        state = states[key]
        count = len(existing.get(key, []))
        if any(getattr(row, f) != state[f] for f in rules.LEDGER_FIELDS) or row.claims_count != count:
            for name, value in state.items():
                setattr(row, name, value)
            row.claims_count, row.updated_at = count, now
            changed.append(row)
    _write_ledgers(changed)
    if follow:
        _follow_fund_payments(list(rows.values()), actor=actor, depth=depth)
    return Resettlement(entries, states, True)


def _follow_fund_payments(rows: list[PersonYearLedger], *, actor, depth: int = 0,
                          flags: dict[tuple[int, int], list[bool]] | None = None) -> None:
    """Keep what the year ledgers imply for members in step (DOMAIN.md §3, 零报销激励):
    ``Enrollment.had_fund_payment`` of each year through members' service, then the
    critical-illness caps of the later enrolled years (:func:`_refresh_caps`); a person-year
    whose cap changed and that already has claims is re-settled (its claims may have been
    capped by the old value).  Set-based: a few
    statements per year in the batch."""
    by_year: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for row in rows:
        by_year[(row.year, (row.basic_paid + row.critical_paid) > 0)].append(row.person_id)
    changed_next: dict[int, set[int]] = defaultdict(set)
    if flags is not None:  # read after the ledger rows were locked: the persons already marked need nothing
        by_year = {(year, paid): [p for p in pids if not all(f == paid for f in flags.get((p, year), ()))]
                   for (year, paid), pids in by_year.items()}
        by_year = {k: v for k, v in by_year.items() if v}
    for (year, paid), person_ids in sorted(by_year.items()):
        if enrollment_record_fund_payments(person_ids=person_ids, year=year, paid=paid, actor=actor):
            # The next year's enrolments are read again, after the mark: ``flags`` was read
            # before it, and an enrolment of the next year committed since (it held this
            # year's row, the one the mark waited for) has a cap worked out from the old flag.
            # Every later year of an unbroken run counts this one (rules.zero_claim_years):
            # the years after the next are refreshed too, for those enrolled in each year between.
            later, pids = year + 1, person_ids
            while pids:
                changed, pids = _refresh_caps(later, pids, actor)
                if changed:
                    changed_next[later].update(changed)
                later += 1
    if not changed_next or depth > 3:
        return
    keys = {(pid, year) for year, pids in changed_next.items() for pid in pids}
    with_claims = set(Claim.objects.filter(status=ClaimStatus.SETTLED, year__in=set(changed_next),
                                           person_id__in={p for p, _y in keys})
                      .values_list("person_id", "year").distinct())
    keys &= with_claims
    if keys:
        with translation.override("zh-hans"):
            reason = _("上一年度基金报销情况变化,大病保险年度封顶线重算")
        _resettle(keys=keys, actor=actor, reason=reason, depth=depth + 1)


def _refresh_caps(year: int, person_ids: list[int], actor) -> tuple[list[int], list[int]]:
    """Refresh ``year``'s resident caps of ``person_ids`` (members' service) in the
    settlement's lock order: the ledger rows of the person-years whose cap changes first
    (created empty where missing, and deleted again before the commit), then their
    enrolments.  A settlement of such a person-year under way — even its first claim, whose
    ledger row it is creating — is waited for, so its claims are seen (and re-settled) by the
    caller; one that starts meanwhile waits, then reads the new cap.  Returns the persons whose
    cap changed and those enrolled (as residents) in ``year``."""
    candidates, enrolled = enrollment_caps_changes(year=year, person_ids=person_ids)
    if not candidates:
        return [], enrolled
    held = _hold_ledgers({(pid, year) for pid in candidates})
    changed = enrollment_caps_refresh_persons(year=year, person_ids=candidates, actor=actor)
    _release_ledgers(held)
    return changed, enrolled


def ledger_caps_refresh(*, year: int, actor, chunk: int = 2000) -> dict[str, int]:
    """The scheduled refresh of ``year``'s resident critical-illness caps (DOMAIN.md §3,
    零报销激励; the beat row ``members.enrollment_caps_refresh``), with the re-settlement of the
    person-years already settled under a cap it changes (their claims may have been capped by
    the old value, or capped too low): the cap change and the adjustment entries
    (补付/追回) commit together, chunk by chunk of persons, each chunk one transaction.
    Running it again changes nothing (no cap changes, no entries).

    Locks in the settlement's order (the year ledger rows, then the enrolments, see
    :func:`_refresh_caps`): a settlement of the same person-year — its first claim included —
    waits, or is waited for, and never reads a cap this changes before it commits.  Returns
    the caps changed, the person-years re-settled and the entries written."""
    require_actor(actor, RESETTLE_ROLES, system=True)
    person_ids = list(Enrollment.objects.filter(year=year, scheme=Scheme.RESIDENT).order_by("person_id")
                      .values_list("person_id", flat=True).distinct())
    totals = {"changed": 0, "resettled": 0, "entries": 0}
    with translation.override("zh-hans"):
        reason = _("大病保险年度封顶线重算(%(year)s年度),已结算的结算单按新封顶线重新结算") % {"year": year}
    for start in range(0, len(person_ids), chunk):
        with transaction.atomic():
            changed, _enrolled = _refresh_caps(year, person_ids[start:start + chunk], actor)
            settled = set(PersonYearLedger.objects.filter(person_id__any=changed, year=year)
                          .values_list("person_id", flat=True)) if changed else set()
            keys = {(pid, year) for pid in settled}
            result = _resettle(keys=keys, actor=actor, reason=reason)
            totals["changed"] += len(changed)
            totals["resettled"] += len(keys)
            totals["entries"] += len(result.entries)
    return totals


@transaction.atomic
def ledger_resettle(*, person: Person, year: int, confirm: bool, actor, reason: str = "") -> Resettlement:
    """A reviewer's re-settlement of one person-year after correcting a fact (an identity, an
    enrolment, a registration): ``confirm=False`` previews the adjustments (nothing written),
    ``confirm=True`` writes them; the same again finds nothing."""
    require_actor(actor, RESETTLE_ROLES, message=_("只有审核人员可以重新结算个人年度台账。"))
    with translation.override("zh-hans"):
        why = _("审核人员重新结算%(year)s年度台账") % {"year": year}
        if (reason or "").strip():
            why += _("(%(reason)s)") % {"reason": reason.strip()[:200]}
    return _resettle(keys={(person.pk, year)}, actor=actor, reason=why, confirm=confirm)


@transaction.atomic
def ledger_entries_settle_cash(*, application_id: int, reference: str, actor) -> int:
    """Mark the one-time payment entries of an assistance application paid (财务已支付):
    the assistance app calls this when finance (or a payment run) pays the approved amount."""
    require_actor(actor, FINANCE_ROLES, system=True)
    entries = list(LedgerEntry.objects.select_for_update().filter(
        application_id=application_id, kind=EntryKind.PAYOUT,
        cash_status__in=[CashStatus.TO_PAY, CashStatus.INSTRUCTED]).order_by("pk"))
    return _settle_cash(entries, reference=reference, actor=actor)


def _settle_cash(entries: list, *, reference: str, actor) -> int:
    if any(e.cash_status == CashStatus.INSTRUCTED for e in entries):  # the bank's answer decides those
        raise ValidationError({"detail": [_("所选款项已发银行代发指令,以银行回盘结果为准,不能手工登记已支付。")]})
    now = timezone.now()
    done = {CashStatus.TO_PAY: CashStatus.PAID, CashStatus.TO_RECOVER: CashStatus.RECOVERED}
    changed = []
    for entry in entries:
        if entry.cash_status in done:
            entry.cash_status, entry.cash_reference, entry.cash_at = done[entry.cash_status], reference[:60], now
            changed.append(entry)
    bulk_update_audited(changed, LedgerEntry, ["cash_status", "cash_reference", "cash_at"], actor=actor,
                        reason=_("财务处理补付/追回"))
    return len(changed)


#: How the bank moves an entry's cash status (assistance payouts through payments): instructed
#: when a payout batch takes it, paid when the bank confirms, back to the queue after a
#: reviewed correction of a returned transfer.
BANK_MOVES = {(CashStatus.TO_PAY, CashStatus.INSTRUCTED), (CashStatus.INSTRUCTED, CashStatus.PAID),
              (CashStatus.INSTRUCTED, CashStatus.TO_PAY)}


@transaction.atomic
def ledger_entries_bank_move(*, entries: list, to: str, actor, reason: str,
                             references: dict[int, str] | None = None) -> int:
    """Move ``entries`` (rows the caller has locked, in primary-key order) to cash status ``to``
    along :data:`BANK_MOVES`; ``references`` (entry id → bank reference) for ``paid``.
    Entries already elsewhere are left alone (an answer recorded twice changes nothing); any
    other move is refused. Returns how many changed."""
    require_actor(actor, FINANCE_ROLES | RESETTLE_ROLES, system=True)
    now, changed = timezone.now(), []
    for entry in entries:
        if entry.cash_status == to:
            continue
        if (entry.cash_status, to) not in BANK_MOVES:
            raise ValidationError({"detail": [_("台账条目 %(id)s 不能从“%(a)s”改为“%(b)s”。") % {
                "id": entry.pk, "a": CashStatus(entry.cash_status).label, "b": CashStatus(to).label}]})
        entry.cash_status = to
        if to == CashStatus.PAID:
            entry.cash_reference, entry.cash_at = (references or {}).get(entry.pk, "")[:60], now
        changed.append(entry)
    bulk_update_audited(changed, LedgerEntry, ["cash_status", "cash_reference", "cash_at"], actor=actor,
                        reason=reason)
    return len(changed)


@transaction.atomic
def ledger_entries_settle(*, entry_ids: list[int], reference: str, actor) -> int:
    """Record that finance paid the 补付 or recovered the 追回 of these entries (a reference is
    required: the bank voucher or receipt).  Returns how many changed."""
    require_actor(actor, {Role.FINANCE}, message=_("只有财务人员可以办理补付和追回。"))
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError({"reference": [_("请填写支付或追回凭证号。")]})
    entries = list(LedgerEntry.objects.select_for_update().filter(pk__in=entry_ids).order_by("pk"))
    return _settle_cash(entries, reference=reference, actor=actor)
