"""`Authorization: Token <key>` for platforms; keys are stored hashed (bookings.models.ApiToken)."""

import functools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from bookings.domain.rows import Columns, table
from bookings.models import ApiToken, _hash_key

# Recording every use would add a write to every call; once a minute is enough to audit.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Token <key>' with one key."
            )
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = find_token(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        now = timezone.now()
        if token.last_used is None or now - token.last_used > LAST_USED_RESOLUTION:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table(ApiToken)} SET last_used = %s WHERE id = %s", [now, token.pk]
                )
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


def find_token(key: str) -> ApiToken | None:
    """`ApiToken.find` (the token with its user) as hand-written SQL: every API call pays for
    it, and compiling the ORM query cost more Python time than running it."""
    sql, token_columns, user_columns = _token_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [_hash_key(key)])
        row = cursor.fetchone()
    if row is None:
        return None
    token = token_columns.build(row)
    ApiToken._meta.get_field("user").set_cached_value(
        token, user_columns.build(row, token_columns.count)
    )
    return token


@functools.cache
def _token_query() -> tuple[str, Columns, Columns]:
    token, user = Columns(ApiToken, "t"), Columns(get_user_model(), "u")
    sql = (
        f"SELECT {token.sql}, {user.sql} FROM {table(ApiToken)} t"
        f" JOIN {table(get_user_model())} u ON u.id = t.user_id"
        " WHERE t.key_hash = %s ORDER BY t.id LIMIT 1"
    )
    return sql, token, user


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; keys come from `manage.py create_api_token`.",
        }
