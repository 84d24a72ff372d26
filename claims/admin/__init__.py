"""Admin of claims (Django autodiscovers ``claims.admin``): importing the modules registers
the claim list and its staff pages (:mod:`.claims`), the year ledgers, entries and checks
(:mod:`.ledgers`) and the fund entries (:mod:`.funds`)."""
from . import claims, funds, ledgers  # noqa: F401  (register the ModelAdmins)
