"""The kernel: regions, staff and roles, audit, dated policy, scoping, imports, admin and API
bases, money and date helpers. It imports no domain app; the composition root is ``config``."""
