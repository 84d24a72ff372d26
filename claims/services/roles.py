"""Who may call claims' write services (the API's and the admin's roles; superusers always;
a scheduled job only where a service says ``system=True``)."""
from __future__ import annotations

from yibao_site.models import Role

SETTLE_ROLES = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})
RESETTLE_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
FINANCE_ROLES = frozenset({Role.FINANCE, Role.SUPERVISOR})
CHECK_ROLES = frozenset({Role.SUPERVISOR})
