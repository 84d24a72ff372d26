"""API authentication: DRF's token scheme, read in one plain statement.

Its own module: the REST framework settings import it while ``rest_framework.views`` loads,
so it may import nothing that imports the views back (``api_base`` does)."""
from __future__ import annotations

from django.db import connections, router
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with the token's user read by one plain cursor statement
    instead of an ORM query compiled on every request (``select_related`` of the user: a tenth
    of a person read's CPU; a raw queryset still costs two thirds of that).  Same answers: the
    user (every concrete column, through the columns' own database converters, built by
    ``User.from_db`` as any query builds it) and the token (its ``created`` loaded if ever
    asked for), 401 "Invalid token." for an unknown key, "User inactive or deleted." for an
    inactive user; the key is compared as the ORM compares it (``=``).  Nothing is cached
    between requests: a revoked token, a deactivated user or a changed role counts at once."""

    # Per (token model, database alias): the statement, the user's attnames and, per column,
    # its expression with the converters the ORM's compiler would apply to it; built once.
    _plans: dict = {}

    @classmethod
    def _plan(cls, model, db):
        plan = cls._plans.get((model, db))
        if plan is None:
            from yibao_site.models import User

            connection = connections[db]
            quote = connection.ops.quote_name
            tok, usr = model._meta, User._meta
            fields = usr.concrete_fields
            sql = (f"SELECT {', '.join(f'u.{quote(f.column)}' for f in fields)} "
                   f"FROM {quote(usr.db_table)} u JOIN {quote(tok.db_table)} t "
                   f"ON t.{quote(tok.get_field('user').column)} = u.{quote(usr.pk.column)} "
                   f"WHERE t.{quote(tok.pk.column)} = %s")
            # the converters a query applies to each column (SQLite's datetimes…; none on PostgreSQL)
            converters = []
            for i, f in enumerate(fields):
                col = f.get_col(usr.db_table)
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((i, col, found))
            plan = cls._plans[(model, db)] = (sql, [f.attname for f in fields], converters)
        return plan

    def authenticate_credentials(self, key):
        from yibao_site.models import User

        model = self.get_model()
        db = router.db_for_read(model)
        sql, attnames, converters = self._plan(model, db)
        connection = connections[db]
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        values = list(row)
        for i, col, found in converters:
            for converter in found:
                values[i] = converter(values[i], col, connection)
        user = User.from_db(db, attnames, values)
        token = model.from_db(db, [model._meta.pk.attname, model.user.field.attname], [key, user.pk])
        model.user.field.set_cached_value(token, user)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (user, token)
