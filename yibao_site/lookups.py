"""``field__any=[…]``: membership in a large list of keys as ONE array parameter.

``field__in=[5 000 values]`` sends 5 000 bind parameters that the driver and the planner
handle one by one (an import's batch look-up spent most of its time there); on PostgreSQL
``field__any`` sends ``field = ANY(%s)`` with the list as one array.  Elsewhere it is ``IN``.
"""
from __future__ import annotations

from django.db.models import CharField, Field, Lookup, TextField


_ARRAY_TYPES = {int: "bigint[]", str: "text[]"}


def array_literal(values: list) -> str | None:
    """``values`` as a PostgreSQL array literal (``{1,2}``, ``{"a","b"}``) when they are all
    ints or all strings, else ``None``.  psycopg's client-side binding dumps a list element by
    element in Python; a literal built by ``join`` is one string (an import sends 5 000 keys a
    batch).  Every string element is double-quoted with ``\\`` and ``"`` escaped, so any text
    round-trips."""
    if not values:
        return None
    kind = type(values[0])
    if kind is int:
        if not all(type(v) is int for v in values):
            return None
        return "{" + ",".join(map(str, values)) + "}"
    if kind is str:
        if not all(type(v) is str for v in values):
            return None
        if any("\\" in v or '"' in v for v in values):
            values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
        return '{"' + '","'.join(values) + '"}'
    return None


_INTEGER_TYPES = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
                  "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField"}
_TEXT_TYPES = {"CharField", "TextField"}
# a text field whose class overrides get_prep_value (trimming, casing…) still prepares its values
_CHAR_PREP = {"CharField": CharField.get_prep_value, "TextField": TextField.get_prep_value}


def _plain(field, values) -> bool:
    """Whether ``values`` need no preparation for ``field``: every one an ``int`` (not a bool)
    for an integer column, or a ``str`` for a text column — what ``get_prep_value`` and
    ``get_db_prep_value`` would return unchanged (a key list of 5 000 is not walked twice)."""
    if not isinstance(values, list) or not values:
        return False
    kind = field.get_internal_type()
    if kind in ("ForeignKey", "OneToOneField"):  # ``person_id__any``: the target key prepares
        field = field.target_field
        kind = field.get_internal_type()
    if kind in _INTEGER_TYPES:
        return all(type(v) is int for v in values)
    if kind in _TEXT_TYPES and type(field).get_prep_value is _CHAR_PREP.get(kind):
        return all(type(v) is str for v in values)
    return False


class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        values = self.rhs if isinstance(self.rhs, list) else list(self.rhs)
        if _plain(self.lhs.output_field, values):
            return values  # ints for an integer key, strings for a text column: already prepared
        prep = self.lhs.output_field.get_prep_value
        return [prep(v) for v in values]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = self.rhs if _plain(field, self.rhs) else \
            [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            literal = array_literal(values)
            if literal is not None:  # one text parameter, cast by the server (no per-element dump)
                return f"{lhs} = ANY(%s::{_ARRAY_TYPES[type(values[0])]})", [*lhs_params, literal]
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    from django.db.models import ForeignObject

    Field.register_lookup(Any)
    ForeignObject.register_lookup(Any)  # ``person_id__any=[pk, …]``
