import itertools

from django.db.models import F
from django.utils import timezone

from users.models import Follow, User

_seq = itertools.count()


def make_followers(author: User, count: int, *, active: bool = True) -> list[User]:
    """`count` new users following `author`, created in bulk (fan-out tests need many)."""
    now = timezone.now() if active else None
    batch = [next(_seq) for _ in range(count)]
    users = User.objects.bulk_create(
        User(
            username=f"fan{author.pk}_{n}",
            email=f"fan{author.pk}_{n}@example.com",
            password="!",  # unusable: these users never log in
            last_active_at=now,
        )
        for n in batch
    )
    Follow.objects.bulk_create(Follow(follower=u, followee=author) for u in users)
    User.objects.filter(pk=author.pk).update(follower_count=F("follower_count") + count)
    User.objects.filter(pk__in=[u.pk for u in users]).update(following_count=1)
    return users
