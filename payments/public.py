"""What other apps may use of payments, besides ``payments.models``: the purpose registry and
the batch builder (procurement and assistance send money through these)."""
from .registry import PurposeHandler, register
from .services import PayeeLine, batch_create

__all__ = ["PurposeHandler", "register", "PayeeLine", "batch_create"]
