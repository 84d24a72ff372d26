"""``field__any=[…]``: membership in a large list of keys as ONE array parameter.

``field__in=[5 000 values]`` sends 5 000 bind parameters that the driver and the planner
handle one by one (an import's batch look-up spent most of its time there); on PostgreSQL
``field__any`` sends ``field = ANY(%s)`` with the list as one array.  Elsewhere it is ``IN``.
"""
from __future__ import annotations

from django.db.models import Field, Lookup


class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        prep = self.lhs.output_field.get_prep_value
        return [prep(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    from django.db.models import ForeignObject

    Field.register_lookup(Any)
    ForeignObject.register_lookup(Any)  # ``person_id__any=[pk, …]``
