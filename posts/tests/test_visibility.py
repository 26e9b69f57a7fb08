"""The visibility rule has three forms (posts.models): the ORM's visible_q, the SQL's
VISIBLE_SQL and an instance's is_visible. They must agree on every post."""

import itertools

import pytest
from django.db import connection
from django.utils import timezone

from posts.models import VISIBLE_SQL, Post, visible_q
from posts.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def test_the_sql_orm_and_instance_forms_agree_on_every_status_deleted_and_hidden():
    now = timezone.now()
    posts = {
        (status, deleted, hidden): PostFactory(
            status=status, deleted_at=now if deleted else None, hidden_at=now if hidden else None
        )
        for status, deleted, hidden in itertools.product(Post.Status.values, (0, 1), (0, 1))
    }
    ids = [post.pk for post in posts.values()]

    by_orm = set(Post.objects.filter(visible_q(), pk__in=ids).values_list("pk", flat=True))
    by_manager = set(Post.objects.visible().filter(pk__in=ids).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.id FROM {Post._meta.db_table} p WHERE p.id = ANY(%s) AND {VISIBLE_SQL}",  # noqa: S608
            [ids],
        )
        by_sql = {pk for (pk,) in cursor.fetchall()}
    by_instance = {pk for pk in ids if Post.objects.get(pk=pk).is_visible}

    # Only a published post, neither deleted nor hidden, is visible; each form says so.
    visible = {posts[(Post.Status.PUBLISHED, 0, 0)].pk}
    assert by_orm == by_manager == by_sql == by_instance == visible
    assert len(posts) == 2 * 2 * len(Post.Status.values) >= 8
