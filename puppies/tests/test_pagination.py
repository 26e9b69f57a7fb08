"""Cursors: signed with Django's format, so cursors issued before a deploy or a key
rotation keep working, and a changed byte is refused."""

from datetime import UTC, datetime

import pytest
from django.core import signing
from rest_framework.exceptions import ValidationError

from puppies.pagination import _SALT, _Serializer, decode_cursor, encode_cursor

KEY = [datetime(2026, 11, 28, 4, 30, 1, 123456, tzinfo=UTC), 4242]
ISO = [KEY[0].isoformat(), KEY[1]]


def test_a_cursor_is_what_django_signing_makes_and_reads():
    cursor = encode_cursor(KEY)

    assert signing.loads(cursor, salt=_SALT, serializer=_Serializer) == ISO
    assert decode_cursor(signing.dumps(KEY, salt=_SALT, serializer=_Serializer)) == ISO


def test_a_cursor_signed_with_a_retired_key_still_reads(settings):
    cursor = encode_cursor(KEY)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50

    assert decode_cursor(cursor) == ISO
    assert decode_cursor(encode_cursor(KEY)) == ISO


@pytest.mark.parametrize("where", [0, 20, -1])
def test_a_changed_byte_is_refused(where):
    cursor = encode_cursor(KEY)
    changed = cursor[:where] + ("A" if cursor[where] != "A" else "B") + cursor[where + 1 :]
    if where == -1:
        changed = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")

    with pytest.raises(ValidationError):
        decode_cursor(changed)


def test_a_cursor_of_another_secret_is_refused(settings):
    cursor = encode_cursor(KEY)
    settings.SECRET_KEY = "another-key-" + "y" * 50

    with pytest.raises(ValidationError):
        decode_cursor(cursor)
