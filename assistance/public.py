"""What other apps may use of assistance, besides ``assistance.models`` (nothing today: assistance
is the top of the chain members ← claims ← assistance)."""

__all__: list[str] = []
