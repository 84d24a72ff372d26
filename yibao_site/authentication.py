"""API authentication: DRF's token scheme, read in one plain statement.

Its own module: the REST framework settings import it while ``rest_framework.views`` loads,
so it may import nothing that imports the views back (``api_base`` does)."""
from __future__ import annotations

from django.db import connections, router
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with the token's user read by one plain statement instead of
    an ORM query compiled on every request (``select_related`` of the user: a tenth of a
    person read's CPU).  Same answers: the user and the token (its ``created`` loaded if ever
    asked for), 401 "Invalid token." for an unknown key, "User inactive or deleted." for an
    inactive user; the key is compared as the ORM compares it (``=``)."""

    _sql: dict = {}

    def authenticate_credentials(self, key):
        from yibao_site.models import User

        model = self.get_model()
        db = router.db_for_read(model)
        sql = TokenAuthentication._sql.get(db)
        if sql is None:
            quote = connections[db].ops.quote_name
            tok, usr = model._meta, User._meta
            sql = TokenAuthentication._sql[db] = (
                f"SELECT u.* FROM {quote(usr.db_table)} u JOIN {quote(tok.db_table)} t "
                f"ON t.{quote(tok.get_field('user').column)} = u.{quote(usr.pk.column)} "
                f"WHERE t.{quote(tok.pk.column)} = %s")
        user = next(iter(User.objects.using(db).raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = model.from_db(db, [model._meta.pk.attname, model.user.field.attname], [key, user.pk])
        model.user.field.set_cached_value(token, user)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (user, token)
