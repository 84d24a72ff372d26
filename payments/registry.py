"""What a bank's answer means for the source of an instruction, per purpose.

Procurement and assistance register a :class:`PurposeHandler` in their ``AppConfig.ready``;
payments calls it inside the same transaction that records the bank's answer, so a delivery
becomes paid (or a payout confirmed) exactly when its instruction is confirmed, and the
dependency arrow stays one-way (procurement → payments, assistance → payments).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_HANDLERS: dict[str, "PurposeHandler"] = {}


@dataclass(frozen=True)
class PurposeHandler:
    #: ``confirmed(instructions)``: the bank paid these instructions (``result_on``, ``bank_reference`` set).
    confirmed: Callable[[list], None]
    #: ``failed(instructions)``: the bank returned them (``failure_reason`` set); hold their lines.
    failed: Callable[[list], None]
    #: ``corrected(instruction, correction, actor)``: the payee's details were corrected and
    #: reviewed: update the payee and put the failed lines back in the queue.
    corrected: Callable[[object, object, object], None]


def register(purpose: str, handler: PurposeHandler) -> None:
    """Register ``handler`` for ``purpose`` (idempotent: the last registration wins)."""
    _HANDLERS[purpose] = handler


def handler_for(purpose: str) -> PurposeHandler:
    try:
        return _HANDLERS[purpose]
    except KeyError:  # pragma: no cover - an app forgot to register
        raise LookupError(f"no payments handler registered for purpose {purpose!r}") from None
