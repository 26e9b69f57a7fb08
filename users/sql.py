"""SQL fragments of blocks and mutes for other apps' set-based statements (table names from
the models); the ORM's reads use users.selectors.hidden_q."""

from users.models import Block, Mute

BLOCK = Block._meta.db_table
MUTE = Mute._meta.db_table

# Authors whose posts stay out of the owner's feed: a block either way, or muted by the
# owner. Three index probes, evaluated once per statement.
HIDDEN_AUTHORS = f"""
SELECT blocked_id FROM {BLOCK} WHERE blocker_id = %(owner)s
UNION ALL SELECT blocker_id FROM {BLOCK} WHERE blocked_id = %(owner)s
UNION ALL SELECT muted_id FROM {MUTE} WHERE muter_id = %(owner)s
"""  # noqa: S608


def unblocked(first: str, second: str) -> str:
    """A condition: no block between the users the SQL expressions `first` and `second` name."""
    return f"""NOT EXISTS (SELECT 1 FROM {BLOCK} b
    WHERE (b.blocker_id = {first} AND b.blocked_id = {second})
       OR (b.blocker_id = {second} AND b.blocked_id = {first}))"""  # noqa: S608


def may_notify(recipient: str, actor: str) -> str:
    """A condition: `actor` may notify `recipient` (no block either way, not muted by them)."""
    return f"""{unblocked(recipient, actor)}
    AND NOT EXISTS (SELECT 1 FROM {MUTE} m
        WHERE m.muter_id = {recipient} AND m.muted_id = {actor})"""  # noqa: S608
