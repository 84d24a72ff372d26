"""A change-list paginator that does not COUNT(*) a whole large table on every page."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_BELOW = 100_000


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, an unfiltered list of a large table is counted from the planner's
    statistics (``pg_class.reltuples``); filtered lists, small tables and other databases
    are counted exactly (their filters are indexed)."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        query = getattr(qs, "query", None)
        if query is not None and not query.where and not query.distinct:
            connection = connections[qs.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                                   [qs.model._meta.db_table])
                    row = cursor.fetchone()
                if row and row[0] and row[0] >= EXACT_BELOW:
                    return int(row[0])
        return super().count
