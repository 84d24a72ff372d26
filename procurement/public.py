"""What other apps may use of procurement, besides ``procurement.models`` (nothing else today:
procurement sits beside the claims chain and only payments' registry calls back into it)."""

__all__: list[str] = []
