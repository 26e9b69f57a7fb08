"""Small SQL helpers shared by the apps' bulk writes."""

from django.db import connection
from django.db.models import Model


def next_ids(model: type[Model], count: int) -> list[int]:
    """`count` new primary keys of `model` from its sequence, so that rows written in bulk
    know their ids without relying on the order of RETURNING."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]
