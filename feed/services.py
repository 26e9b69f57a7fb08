"""Writes to home feeds. The feed issue fills these in (outbox, fan-out, backfill).

Other apps call only these functions, inside the transaction of the change they
announce; anything that must wait for the commit uses transaction.on_commit.
"""

from posts.models import Post
from users.models import User


def announce_new_post(post: Post) -> None:
    """A post was published: its followers' feeds must receive it."""


def retract_post(post: Post) -> None:
    """A post was deleted or hidden: it must leave every feed."""


def start_following(follower: User, followee: User) -> None:
    """`follower` now follows `followee`: backfill the followee's recent posts."""


def stop_following(follower: User, followee: User) -> None:
    """`follower` no longer follows `followee`: drop the followee's posts from the feed."""


def restore_post(post: Post) -> None:
    """A hidden post was unhidden by a moderator: it belongs in feeds again."""
