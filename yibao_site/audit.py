"""Audit trail helpers over django-simple-history.

Every domain model carries ``history = HistoricalRecords()``; a service that saves passes the
actor and the reason so the history row says who, when, before/after and why.  Bulk writes go
through :func:`bulk_create_audited` / :func:`bulk_update_audited` so they leave history too.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
from django.db.models import Model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from .actors import audit_reason
from .lookups import array_literal


_HISTORY_MODELS: dict = {}


def history_model_of(model: type[Model]):
    """``model.history.model`` (its django-simple-history model, ``None`` if it has none),
    looked up once per model: each ``Model.history`` access builds a new manager class
    (``from_queryset``), a fifth of a single settlement's Python time when it was done per
    statement."""
    try:
        return _HISTORY_MODELS[model]
    except KeyError:
        history = getattr(model, "history", None)
        found = _HISTORY_MODELS[model] = getattr(history, "model", None)
        return found


def audited_save(instance: Model, *, actor=None, reason: str = "", update_fields: Sequence[str] | None = None) -> Model:
    """Save ``instance`` recording ``actor`` and ``reason`` in its history row."""
    reason = audit_reason(actor, reason)
    if actor is not None and getattr(actor, "is_authenticated", False):
        instance._history_user = actor
    if reason:
        instance._change_reason = reason[:100]
    instance.save(update_fields=update_fields)
    return instance


def bulk_create_audited(objs: Iterable[Model], model: type[Model], *, actor=None, reason: str = "",
                        batch_size: int = 1000, **kwargs) -> list[Model]:
    """``bulk_create`` that writes one history row per created object, in bulk.

    On PostgreSQL the rows and their history rows are streamed with ``COPY`` (primary keys
    drawn from the table's sequence first), several times faster than multi-row INSERTs;
    elsewhere django-simple-history's ``bulk_create_with_history`` does the same job.
    """
    objs = list(objs)
    if not objs:
        return objs
    reason = audit_reason(actor, reason)
    db = router.db_for_write(model)
    if connections[db].vendor == "postgresql" and not kwargs and len(objs) >= COPY_THRESHOLD:
        return _copy_create_with_history(objs, model, db, actor=actor, reason=reason)
    if (len(objs) == 1 and not kwargs and connections[db].vendor == "postgresql"
            and objs[0].pk is None and _one_row_insertable(model)
            and not any(hasattr(objs[0], a) for a in _PER_OBJECT_HISTORY)):
        return _insert_one_with_history(objs[0], model, db, actor=actor, reason=reason)
    return bulk_create_with_history(
        objs, model, batch_size=batch_size,
        default_user=actor if getattr(actor, "is_authenticated", False) else None,
        default_change_reason=reason[:100] or None, **kwargs,
    )


def bulk_update_audited(objs: Iterable[Model], model: type[Model], fields: Sequence[str], *, actor=None,
                        reason: str = "", batch_size: int = 1000) -> int:
    """``bulk_update`` that writes one history row per updated object, in bulk."""
    objs = list(objs)
    if not objs:
        return 0
    reason = audit_reason(actor, reason)
    db = router.db_for_write(model)
    if (connections[db].vendor == "postgresql" and fields and len(objs) >= COPY_THRESHOLD
            and not any(hasattr(o, a) for o in objs for a in _PER_OBJECT_HISTORY)):
        return _copy_update_with_history(objs, model, list(fields), db, actor=actor, reason=reason)
    return bulk_update_with_history(
        objs, model, list(fields), batch_size=batch_size,
        default_user=actor if getattr(actor, "is_authenticated", False) else None,
        default_change_reason=reason[:100] or None,
    )


COPY_THRESHOLD = 200
# Per-object history attributes django-simple-history honours: objects carrying any of them
# take its path, which writes them.
_PER_OBJECT_HISTORY = ("_history_user", "_change_reason", "_history_date")


def insert_rows_audited(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence], *, actor=None,
                        reason: str = "") -> list[int]:
    """Insert new rows given as value tuples (``columns`` are attnames), each with its ``+``
    history row; return the new primary keys in row order.

    The fast door for importers: no model instance per row.  On PostgreSQL the rows are
    streamed with ``COPY`` and the history is written by the server from the rows just
    written (one ``INSERT … SELECT``); elsewhere instances go through ``bulk_create_audited``.
    Columns left out get their field default (``auto_now``/``default=timezone.now``: one
    timestamp for the batch).
    """
    rows = list(rows)
    if not rows:
        return []
    columns = list(columns)
    db = router.db_for_write(model)
    connection = connections[db]
    if connection.vendor != "postgresql" or len(rows) < COPY_THRESHOLD:
        objs = [model(**dict(zip(columns, row))) for row in rows]
        bulk_create_audited(objs, model, actor=actor, reason=reason)
        return [o.pk for o in objs]
    meta = model._meta
    now = timezone.now()
    rest = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in columns]
    fill = tuple(_default_for(f, now, connection) for f in rest)
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        ids = _next_ids(cursor, meta, len(rows))
        _copy_rows(cursor.cursor, meta.db_table,
                   [meta.pk.column] + [meta.get_field(c).column for c in columns] + [f.column for f in rest],
                   ((pk, *row, *fill) for pk, row in zip(ids, rows)))
        _history_from_rows(cursor, model, ids, actor=actor, reason=reason, now=now)
    return ids


SHARED_MAX_DISTINCT = 500  # shared tuples a batch sends as one VALUES list (more: the COPY door)


def insert_shared_rows_audited(model: type[Model], key_column: str, keys: Sequence[int], columns: Sequence[str],
                               shared: Sequence[tuple], *, actor=None, reason: str = "") -> None:
    """What ``insert_rows_audited(model, (key_column, *columns), [(k, *s) for k, s in zip(keys,
    shared)])`` writes — the same rows, keys drawn in row order, one timestamp, the same ``+``
    history rows — for rows that mostly share their other values: row ``i`` is ``keys[i]``
    (an integer column, a foreign key) and ``shared[i]``, a tuple that rows alike share (the
    same object).  On PostgreSQL each distinct tuple is sent once (a ``VALUES`` list) and the
    keys as one array, and the server writes the rows and their history in one statement
    (``INSERT … SELECT … RETURNING`` feeding the history's ``INSERT``): no key drawn by a
    round trip, no row streamed.  A batch of mostly distinct tuples, a small one, or another
    database goes ``insert_rows_audited``."""
    keys = list(keys)
    if not keys:
        return
    db = router.db_for_write(model)
    connection = connections[db]
    distinct: list[tuple] = []
    index: dict[int, int] = {}  # by id() of a shared tuple (alive in ``shared`` meanwhile)
    positions = []
    if connection.vendor == "postgresql" and len(keys) >= COPY_THRESHOLD:
        for values in shared:
            i = index.get(id(values))
            if i is None:
                i = index[id(values)] = len(distinct) + 1
                distinct.append(values)
                if len(distinct) > SHARED_MAX_DISTINCT:
                    break
            positions.append(i)
    key_list = array_literal(keys)
    if not positions or len(distinct) > SHARED_MAX_DISTINCT or key_list is None:
        insert_rows_audited(model, (key_column, *columns), [(k, *s) for k, s in zip(keys, shared)], actor=actor,
                            reason=reason)
        return
    meta = model._meta
    qn = connection.ops.quote_name
    now = timezone.now()
    fields = [meta.get_field(c) for c in columns]
    rest = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in columns
            and f.attname != key_column]
    fill = [_default_for(f, now, connection) for f in rest]
    # Casts to the base types (``varchar``, ``numeric``): the column's own length and scale then
    # apply as they do to a copied row (an explicit ``::varchar(10)`` would cut a value short).
    types = [_base_type(f, connection) for f in fields]
    row_sql = "(%s::int, " + ", ".join(f"%s::{t}" for t in types) + ")"
    params: list = []
    for i, values in enumerate(distinct, start=1):
        params.append(i)
        params.extend(values)
    value_names = [f"c{n}" for n in range(len(fields))]
    target = [qn(meta.get_field(key_column).column)] + [qn(f.column) for f in fields] + [qn(f.column) for f in rest]
    select = ["r.k"] + [f"v.{n}" for n in value_names] + [f"%s::{_base_type(f, connection)}" for f in rest]
    history_columns, history_select, history_params = _history_select(model, qn, actor=actor, reason=reason, now=now,
                                                                      history_type="+")
    sql = (f"WITH v (i, {', '.join(value_names)}) AS (VALUES {', '.join([row_sql] * len(distinct))}), "
           f"ins AS (INSERT INTO {qn(meta.db_table)} ({', '.join(target)}) "
           f"SELECT {', '.join(select)} FROM unnest(%s::bigint[], %s::int[]) WITH ORDINALITY AS r (k, i, ord) "
           f"JOIN v ON v.i = r.i ORDER BY r.ord RETURNING *) "
           f"INSERT INTO {qn(history_model_of(model)._meta.db_table)} ({', '.join(history_columns)}) "
           f"SELECT {', '.join(history_select)} FROM ins")
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [*params, *fill, key_list, array_literal(positions), *history_params])


def _base_type(field, connection) -> str:
    return re.sub(r"\(.*?\)", "", field.db_type(connection))


def _default_for(field, now, connection):
    from django.db.models import JSONField

    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) or field.default is timezone.now:
        return now
    if callable(field.default):  # a per-row default (uuid…) cannot be shared by the batch
        raise ValueError(f"insert_rows_audited: give {field.model.__name__}.{field.name} a value per row")
    if field.has_default():
        value = field.get_default()
    elif field.null:
        value = None
    else:
        value = ""
    return field.get_db_prep_save(value, connection) if isinstance(field, JSONField) else value


def _next_ids(cursor, meta, count: int) -> list[int]:
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                   [meta.db_table, meta.pk.column, count])
    return [r[0] for r in cursor.fetchall()]


def history_insert_select(model: type[Model], *, where: dict, actor=None, reason: str = "") -> None:
    """One ``+`` history row per row of ``model`` whose columns equal ``where`` (attname →
    value), copied by the server in one ``INSERT … SELECT``: for set-based writers (the early
    warning's list) whose rows never come to Python."""
    connection = connections[router.db_for_write(model)]
    with connection.cursor() as cursor:
        _history_from_rows(cursor, model, None, actor=actor, reason=audit_reason(actor, reason), now=timezone.now(),
                           where=where)


def history_from_rows(model: type[Model], ids: Sequence[int], *, actor=None, reason: str = "",
                      history_type: str = "~") -> None:
    """One history row (``~`` by default) per row of ``ids``, copied by the database from the
    rows as they are now (one ``INSERT … SELECT``): the audit trail of a set-based ``UPDATE``."""
    if not ids:
        return
    with connections[router.db_for_write(model)].cursor() as cursor:
        _history_from_rows(cursor, model, list(ids), actor=actor, reason=audit_reason(actor, reason),
                           now=timezone.now(), history_type=history_type)


def update_with_history(model: type[Model], update_sql: str, params: Sequence, *, actor=None, reason: str = "",
                        history_type: str = "~") -> list:
    """Run a set-based ``UPDATE … RETURNING <alias>.*`` of ``model``'s table (``update_sql``, on
    PostgreSQL) and write one history row per updated row in the SAME statement (``WITH u AS
    (update) INSERT INTO history SELECT … FROM u``): what the update followed by
    :func:`history_from_rows` writes, in one round trip.  Returns the updated rows' keys."""
    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    columns, select, history_params = _history_select(model, qn, actor=actor, reason=audit_reason(actor, reason),
                                                      now=timezone.now(), history_type=history_type)
    sql = (f"WITH u AS ({update_sql}) INSERT INTO {qn(history_model_of(model)._meta.db_table)} ({', '.join(columns)}) "
           f"SELECT {', '.join(select)} FROM u RETURNING {qn(model._meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *history_params])
        return [row[0] for row in cursor.fetchall()]


def _history_select(model: type[Model], qn, *, actor, reason: str, now, history_type: str
                    ) -> tuple[list[str], list[str], list]:
    """The history table's columns and, for each, what to select from a row of ``model``'s
    table (its own column, or a parameter for who/when/why): shared by every set-based
    history writer."""
    meta = model._meta
    history_model = history_model_of(model)
    if getattr(actor, "is_authenticated", False):
        user_id = actor.pk
    else:
        user = history_model.get_default_history_user(None) if hasattr(history_model, "get_default_history_user") else None
        user_id = getattr(user, "pk", None)
    tracked = {f.attname: meta.get_field(f.name).column for f in history_model.tracked_fields}
    specials = {"history_date": now, "history_change_reason": reason[:100] or None, "history_type": history_type,
                "history_user_id": user_id}
    columns, select, params = [], [], []
    for f in history_model._meta.concrete_fields:
        if f.attname == "history_id":
            continue
        columns.append(qn(f.column))
        if f.attname in specials:
            select.append("%s")
            params.append(specials[f.attname])
        elif f.attname == "history_relation_id":
            select.append(qn(meta.pk.column))
        elif f.attname in tracked:
            select.append(qn(tracked[f.attname]))
        else:
            select.append("NULL")
    return columns, select, params


def _history_from_rows(cursor, model: type[Model], ids: list[int] | None, *, actor, reason: str, now,
                       where: dict | None = None, history_type: str = "+") -> None:
    """One history row per row of ``ids`` (or matching ``where``), copied by the server from
    the rows themselves."""
    meta = model._meta
    history_model = history_model_of(model)
    qn = cursor.db.ops.quote_name
    columns, select, params = _history_select(model, qn, actor=actor, reason=reason, now=now,
                                              history_type=history_type)
    if where is not None:
        condition = " AND ".join(f"{qn(meta.get_field(name).column)} = %s" for name in where) or "1 = 1"
        params = params + list(where.values())
    elif cursor.db.vendor == "postgresql":
        ids = list(ids)  # integer keys as one text parameter, not a list dumped element by element
        literal = array_literal(ids) if ids and type(ids[0]) is int else None
        if literal is not None:
            condition, params = f"{qn(meta.pk.column)} = ANY(%s::bigint[])", params + [literal]
        else:
            condition, params = f"{qn(meta.pk.column)} = ANY(%s)", params + [list(ids)]
    else:
        condition = f"{qn(meta.pk.column)} IN ({', '.join(['%s'] * len(ids))})"
        params = params + list(ids)
    cursor.execute(f"INSERT INTO {qn(history_model._meta.db_table)} ({', '.join(columns)}) "
                   f"SELECT {', '.join(select)} FROM {qn(meta.db_table)} WHERE {condition}", params)


_ONE_ROW: dict = {}


def _one_row_insertable(model: type[Model]) -> bool:
    """Whether a row of ``model`` can take :func:`_insert_one_with_history`: an auto primary
    key, no column the database fills (``db_default``, a generated field) but the key."""
    known = _ONE_ROW.get(model)
    if known is None:
        from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin

        meta = model._meta
        known = _ONE_ROW[model] = (
            isinstance(meta.pk, AutoFieldMixin)
            and all(getattr(f, "db_default", NOT_PROVIDED) is NOT_PROVIDED and not getattr(f, "generated", False)
                    for f in meta.concrete_fields)
            and history_model_of(model) is not None)
    return known


def _insert_one_with_history(obj: Model, model: type[Model], db: str, *, actor, reason: str) -> list[Model]:
    """One new row and its ``+`` history row in ONE statement on PostgreSQL
    (``WITH ins AS (INSERT … RETURNING *) INSERT INTO history SELECT … FROM ins``): what
    ``bulk_create_with_history`` writes for one object — the values as the ORM's insert
    prepares them (``pre_save`` with ``add``, ``get_db_prep_save``), the history columns as
    every set-based history writer here selects them — in one round trip instead of two
    compiled ORM inserts (a single settlement's claim)."""
    connection = connections[db]
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    now = timezone.now()
    columns, select, params = _history_select(model, qn, actor=actor, reason=reason, now=now, history_type="+")
    history_table = qn(history_model_of(model)._meta.db_table)
    sql = (f"WITH ins AS (INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING *) "
           f"INSERT INTO {history_table} ({', '.join(columns)}) SELECT {', '.join(select)} FROM ins "
           f"RETURNING {qn(meta.pk.column)}")
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [*values, *params])
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = db
    return [obj]


def _copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    quoted = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _copy_create_with_history(objs: list[Model], model: type[Model], db: str, *, actor, reason: str) -> list[Model]:
    from operator import attrgetter

    connection = connections[db]
    meta = model._meta
    fields = list(meta.concrete_fields)
    now = timezone.now()
    # Plain fields are read in one C-level call per object; only fields whose ``pre_save`` or
    # database form differ (auto timestamps, JSON) are treated one by one.
    special = {}
    for i, f in enumerate(fields):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            special[i] = ("now", f)
        elif f.get_internal_type() == "JSONField":
            special[i] = ("json", f)
    json_memo: dict = {}  # for fields that write their own COPY text (claims.models.RowJSONField)
    getter = attrgetter(*[f.attname for f in fields])
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        missing = [o for o in objs if o.pk is None]
        if missing:
            for obj, pk in zip(missing, _next_ids(cursor, meta, len(missing))):
                obj.pk = pk

        def values(obj):
            row = getter(obj)
            if not special:
                return row
            row = list(row)
            for i, (kind, f) in special.items():
                if kind == "now":
                    setattr(obj, f.attname, now)
                    row[i] = now
                else:
                    text = f.copy_text(row[i], json_memo) if hasattr(f, "copy_text") else None
                    row[i] = f.get_db_prep_save(row[i], connection) if text is None else text
            return row

        _copy_rows(cursor.cursor, meta.db_table, [f.column for f in fields], (values(o) for o in objs))
        _history_from_rows(cursor, model, [o.pk for o in objs], actor=actor, reason=reason, now=now)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db
    return objs


def _copy_update_with_history(objs: list[Model], model: type[Model], fields: list[str], db: str, *, actor,
                              reason: str) -> int:
    """PostgreSQL form of :func:`bulk_update_audited`: the new values are streamed with ``COPY``
    into a temporary table, written with one ``UPDATE … FROM`` and their ``~`` history rows
    copied by the server from the rows as updated — not Django's ``CASE WHEN`` per 1 000 rows
    and a history instance per row."""
    connection = connections[db]
    meta = model._meta
    qn = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    pk = meta.pk
    table = qn(meta.db_table)
    temp = qn(f"_bulk_update_{meta.db_table}")
    now = timezone.now()
    objs = list({obj.pk: obj for obj in objs}.values())  # an object given twice: its last values, as bulk_update
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        columns = [pk.column] + [f.column for f in targets]
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS SELECT "
                       f"{', '.join(qn(c) for c in columns)} FROM {table} WITH NO DATA")
        attnames = [pk.attname] + [f.attname for f in targets]
        prep = [pk] + targets
        _copy_rows(cursor.cursor, f"_bulk_update_{meta.db_table}", columns,
                   ([f.get_db_prep_save(getattr(obj, a), connection) for f, a in zip(prep, attnames)] for obj in objs))
        sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in targets)
        cursor.execute(f"UPDATE {table} AS t SET {sets} FROM {temp} AS v WHERE t.{qn(pk.column)} = v.{qn(pk.column)}")
        updated = cursor.rowcount
        cursor.execute(f"DROP TABLE {temp}")
        _history_from_rows(cursor, model, [o.pk for o in objs], actor=actor, reason=reason, now=now,
                           history_type="~")
    return updated


def history_insert_sql(model: type[Model], source: str, *, actor=None, reason: str = "", now=None,
                       history_type: str = "+", connection=None) -> tuple[str, list]:
    """``INSERT INTO <model's history table> (…) SELECT … FROM <source>`` and its parameters:
    one history row per row of ``source`` — a table, or a common table expression carrying the
    model's columns (``INSERT/UPDATE … RETURNING *``) — for a set-based writer that folds the
    audit trail into its own statement (what :func:`history_from_rows` writes, without reading
    the rows again)."""
    connection = connection or connections[router.db_for_write(model)]
    history_model = history_model_of(model)
    qn = connection.ops.quote_name
    columns, select, params = _history_select(model, qn, actor=actor, reason=audit_reason(actor, reason),
                                              now=now or timezone.now(), history_type=history_type)
    return (f"INSERT INTO {qn(history_model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(select)} FROM {source}"), params
