"""The one home of post rendering: post ids (or loaded posts) in, JSON bytes out.

Every endpoint that answers posts renders them here. A page costs one Redis round trip
(`_READ`, a Lua script) for what is cached, plus the database only for what is not:

- `post:{<id>}`: the post's JSON without `id`, `author`, `like_count` and
  `liked_by_me`, behind a header `<version>|<author id>|<stored like_count>|`; or a
  tombstone `<version>|<author id>|-` for a post others may not see. Its version is
  `post:{<id>}:v` (absent: 0). Plain strings, so that a page reads them in two MGETs.
- `card:{<user id>}` and `card:{<user id>}:v`: the author summary embedded in posts, so
  that a profile change is one version bump, not one per post.
- The like buffer's keys (interactions.like_buffer): the pending like delta, and the
  viewer's pending or in-flight intent; then the viewer's set of liked posts, which the
  like drain builds and keeps (it alone writes the Like table, so it cannot race a
  build). Without that set, the viewer's likes of the page are read from PostgreSQL.
- The viewer's bookmarked and reposted posts (interactions.viewer_sets): without that
  set, they are read from PostgreSQL with the likes (one query), and the set is built.

Writers bump the version after their transaction commits (`invalidate_posts`,
`invalidate_author`); a body is stored only if the version it was read under is still
current (`_FILL`), so a render that read the database before a change can never cache
what the change replaced. The very next read after a change is therefore fresh.
"""

import contextlib
from collections.abc import Iterable, Sequence

import orjson
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from interactions import selectors as interactions_selectors
from interactions import viewer_sets
from posts.models import Post
from puppies import redis as puppies_redis
from puppies.serializers import represent
from users import hidden, revocations
from users.models import User

# Cold entries leave after a day; an entry is refilled from PostgreSQL on its next read.
CACHE_TTL_S = 86_400
_TOMBSTONE = b"-"


def post_key(post_id: int) -> str:
    # Hash-tagged like the like buffer's keys: one post's keys share a Redis Cluster slot.
    return f"post:{{{post_id}}}"


def version_key(entry_key: str) -> str:
    return f"{entry_key}:v"


def _card_key(user_id: int) -> str:
    return f"card:{{{user_id}}}"


# A Lua function, so that a script serving a whole page (feed.heads) renders in the same
# call. Keys are built from the ids as post_key and interactions.like_buffer name them:
# one round trip per page, at the price of keys Redis Cluster could not route.
# render(viewer id or "", "1" to use liked sets, ids or "id:author id" or, in a feed,
# "id:[author id]:reposter id") -> per post: version, body or false, card version, card
# or false, like delta, mine (1 / 0 the viewer likes it / does not, -1 unknown: ask
# PostgreSQL), bookmarked and reposted (the same), the reposter's card version and card
# (false, false without one); then the authors hidden from the viewer by blocks
# (users.hidden.LUA_HIDDEN); then, when the viewer's saved set is missing, its generation
# (interactions.viewer_sets).
LUA_RENDER = (
    hidden.LUA_HIDDEN
    + """
local function entries(prefix, ids)  -- -> {version, body or false} per id, in two MGETs
  local keys, version_keys = {}, {}
  for i, id in ipairs(ids) do
    keys[i] = prefix .. '{' .. id .. '}'
    version_keys[i] = keys[i] .. ':v'
  end
  local bodies = redis.call('MGET', unpack(keys))
  local versions = redis.call('MGET', unpack(version_keys))
  local out = {}
  for i = 1, #ids do
    local version, body = versions[i] or '0', bodies[i]
    if body and string.match(body, '^(%d+)|') ~= version then body = false end
    out[i] = {version, body}
  end
  return out
end

local function render(viewer, use_sets, ids)
  local liked = 'liked:{' .. viewer .. '}'
  local sets = viewer ~= '' and use_sets == '1'
  local has_set = sets and redis.call('EXISTS', liked) == 1
  local set_known = has_set and redis.call('SISMEMBER', liked, 'x') == 0
  if sets and not has_set then redis.call('SADD', '{likes}:wanted', viewer) end
  if #ids == 0 then return {} end
  -- "<post id>", or "<post id>:<author id>" when the caller knows the author already,
  -- then ":<reposter id>" for a followee's repost in a feed
  local post_ids, authors, reposters, delta_keys = {}, {}, {}, {}
  for i, arg in ipairs(ids) do
    post_ids[i], authors[i], reposters[i] = string.match(arg, '^(%d+):?(%d*):?(%d*)$')
    delta_keys[i] = 'likes:{' .. post_ids[i] .. '}:delta'
  end
  local posts = entries('post:', post_ids)
  local deltas = redis.call('MGET', unpack(delta_keys))
  local likes = set_known and redis.call('SMISMEMBER', liked, unpack(post_ids)) or {}
  -- bookmarks and reposts (interactions.viewer_sets): 0 for anonymous, -1 unknown
  local saved_key, saved, generation = 'saved:{' .. viewer .. '}', {}, false
  local saved_default = 0
  if viewer ~= '' then
    if redis.call('EXISTS', saved_key) == 0 then
      saved_default, generation = -1, redis.call('GET', saved_key .. ':gen') or '0'
    elseif redis.call('SISMEMBER', saved_key, 'x') == 1 then
      saved_default = -1
    else
      local members = {}
      for i, id in ipairs(post_ids) do
        members[2 * i - 1], members[2 * i] = 'b' .. id, 'r' .. id
      end
      saved = redis.call('SMISMEMBER', saved_key, unpack(members))
    end
  end
  local wanted, seen, some_unknown = {}, {}, false
  for i = 1, #ids do
    if posts[i][2] then authors[i] = string.match(posts[i][2], '^%d+|(%d+)|') end
    some_unknown = some_unknown or authors[i] == ''
    for _, user in ipairs({authors[i], reposters[i]}) do
      if user ~= '' and not seen[user] then
        seen[user] = true
        wanted[#wanted + 1] = user
      end
    end
  end
  local cards = {}
  if #wanted > 0 then
    for j, card in ipairs(entries('card:', wanted)) do cards[wanted[j]] = card end
  end
  local out = {}
  for i, id in ipairs(post_ids) do
    local card = cards[authors[i]] or {false, false}
    -- No delta, no pending or in-flight intent: every intent writes the delta.
    local mine = -1
    if viewer ~= '' then
      local tag = 'likes:{' .. id .. '}'
      local intent = deltas[i] and (redis.call('HGET', tag .. ':pending', viewer)
        or redis.call('HGET', tag .. ':inflight', viewer))
      if intent then
        mine = tonumber(string.sub(intent, 1, 1))
      elseif set_known then
        mine = likes[i]
      end
    end
    out[#out + 1] = posts[i][1]
    out[#out + 1] = posts[i][2]
    out[#out + 1] = card[1]
    out[#out + 1] = card[2]
    out[#out + 1] = tonumber(deltas[i] or '0')
    out[#out + 1] = mine
    out[#out + 1] = saved[2 * i - 1] or saved_default
    out[#out + 1] = saved[2 * i] or saved_default
    local reposter_card = cards[reposters[i]] or {false, false}
    out[#out + 1] = reposter_card[1]
    out[#out + 1] = reposter_card[2]
  end
  out[#out + 1] = hidden_among(viewer, wanted, some_unknown)  -- users.hidden: blocks
  if generation then out[#out + 1] = generation end
  return out
end
"""
)

# ARGV: the request's pending token check (users.revocations), viewer id or "", "1" to use
# liked sets, post ids. -> render's answer, or {"!auth", verdict}.
_READ = puppies_redis.Script(
    revocations.LUA_CHECK
    + LUA_RENDER
    + """
local verdict = token_revoked(ARGV[1], ARGV[2])
if verdict then return {'!auth', verdict} end
return render(ARGV[3], ARGV[4], {unpack(ARGV, 5)})
"""
)


def render_args(viewer: User) -> list:
    """The viewer's arguments of `render` in a script: id (or "") and whether liked sets
    are in use (the like drain builds them only while likes are buffered)."""
    viewer_id = viewer.pk if viewer.is_authenticated else ""
    return [viewer_id, "1" if settings.LIKE_BUFFER_ENABLED else "0"]


# KEYS: the entry, its version. ARGV: the version the content was read under, the body,
# ttl. A version outlives its entry (twice the ttl, renewed here), so a version that went
# back to 0 can never meet an old entry of the same number.
_FILL = puppies_redis.Script("""
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[2], 2 * ARGV[3])
return 1
""")


# --- invalidation (call after commit: transaction.on_commit) --------------------------


def post_changed(post: Post) -> None:
    """What readers see of `post` changed: its renderings go stale once this commits."""
    transaction.on_commit(lambda: invalidate_posts([post.pk]))


def author_changed(user_id: int) -> None:
    """The user's public summary changed: stale in every post once this commits."""
    transaction.on_commit(lambda: invalidate_author(user_id))


def invalidate_posts(post_ids: Iterable[int]) -> None:
    """These posts changed (content, visibility, media, comment or like counts)."""
    puppies_redis.bump_versions(
        [version_key(post_key(post_id)) for post_id in post_ids], entry_ttl_s=CACHE_TTL_S
    )


def invalidate_author(user_id: int) -> None:
    """This user's public summary (username, display name, avatar) changed."""
    puppies_redis.bump_versions([version_key(_card_key(user_id))], entry_ttl_s=CACHE_TTL_S)


# --- rendering --------------------------------------------------------------------------


# What `render` returns per post (then the hidden authors and, maybe, one generation: see
# LUA_RENDER).
_STRIDE = 10
_BOOL = (b"false", b"true")


class _Entry:
    __slots__ = (
        "author_id",
        "body",
        "bookmarked",
        "card",
        "card_version",
        "delta",
        "mine",
        "reposted",
        "reposter_card",
        "reposter_card_version",
        "version",
    )


def _post_json(
    post_id: int,
    card: bytes,
    fragment: bytes,
    like_count: int,
    marks: tuple[bool, bool, bool],  # liked, bookmarked, reposted by the viewer
    reposted_by: bytes | bool | None,  # in a feed: the reposter's card or None; else False
) -> bytes:
    liked, bookmarked, reposted = marks
    feed_only = b""
    if reposted_by is not False:
        feed_only = b',"reposted_by":%s' % (reposted_by or b"null")
    return b'{"id":%d,"author":%s,%s,"like_count":%d,"liked_by_me":%s,' % (
        post_id,
        card,
        fragment,
        max(like_count, 0),
        _BOOL[liked],
    ) + b'"bookmarked_by_me":%s,"reposted_by_me":%s%s}' % (
        _BOOL[bookmarked],
        _BOOL[reposted],
        feed_only,
    )


def render_posts(
    viewer: User,
    posts: Sequence[Post | int],
    *,
    only_visible: bool = True,
    read=None,
    reposted_by: dict[int, int] | None = None,
) -> list[bytes]:
    """JSON objects of `posts` (ids or loaded posts), as `viewer` sees them, in order.

    Posts that are gone or that others may not see are left out; with
    `only_visible=False` the author still sees their own hidden or pending post.
    `read` is what a page script's `render` call already returned for these posts.
    `reposted_by` (feeds only: post id -> the followee whose repost put it there) adds
    `reposted_by` to every post: that followee's summary, or null.
    """
    if not posts:
        return []
    ids = [p if isinstance(p, int) else p.pk for p in posts]
    viewer_id = viewer.pk if viewer.is_authenticated else None
    if read is None:
        # Known authors go along, so a post's first render finds their card too; so do
        # the reposters of a feed's reposts.
        reposters = reposted_by or {}
        args = [_render_arg(p, reposters.get(pid)) for p, pid in zip(posts, ids, strict=True)]
        try:
            read = _READ([], [*revocations.pending_args(viewer), *render_args(viewer), *args])
        except puppies_redis.Unavailable:
            read = None
        if read and read[0] == b"!auth":
            revocations.settle(viewer, read[1])  # raises if the token was revoked
            return render_posts(viewer, posts, only_visible=only_visible, reposted_by=reposted_by)
        if read is not None:
            revocations.settle(viewer, None)
    if read is not None:
        whole = _from_cache(ids, read, anonymous=viewer_id is None, feed=reposted_by)
        if whole is not None:
            return _without_hidden(viewer_id, whole, read, len(ids))
    entries = _entries(ids, read)
    # Posts loaded whole are rendered as they are; a list page's lean rows (only what
    # paging needs) just name their author, and what the cache lacks is loaded at once.
    loaded = {p.pk: p for p in posts if not isinstance(p, int) and not p.get_deferred_fields()}
    _fill_misses(
        ids, entries, loaded, only_visible=only_visible, viewer_id=viewer_id, feed=reposted_by
    )
    _look_up_viewer_marks(viewer_id, entries, _generation(ids, read))
    out = []
    for post_id in ids:
        entry = entries.get(post_id)
        if entry is None or entry.body is None:
            continue
        json = _post_json(
            post_id,
            entry.card,
            entry.body[2],
            int(entry.body[1]) + entry.delta,
            (entry.mine, entry.bookmarked, entry.reposted),
            False if reposted_by is None else entry.reposter_card,
        )
        out.append((int(entry.body[0]), json))
    return _without_hidden(viewer_id, out, read, len(ids))


def _without_hidden(
    viewer_id: int | None, rendered: list[tuple[int, bytes]], read: list | None, count: int
) -> list[bytes]:
    """The rendered (author id, post) minus those whose author has a block with the
    viewer. Only a viewer whose set of them is not in Redis yet (or Redis is down) costs
    a query, and only when someone else's post is there to check."""
    if viewer_id is None or all(author == viewer_id for author, _ in rendered):
        return [body for _, body in rendered]
    answer = read[_STRIDE * count] if read is not None and len(read) > _STRIDE * count else None
    hidden_ids = hidden.resolve(viewer_id, answer)
    return [body for author, body in rendered if author not in hidden_ids]


def _render_arg(post: Post | int, reposter: int | None) -> str | int:
    """A post's argument of `render`: its id, its author if known, its reposter if any."""
    author = "" if isinstance(post, int) else post.author_id
    pk = post if isinstance(post, int) else post.pk
    if reposter is not None:
        return f"{pk}:{author}:{reposter}"
    return f"{pk}:{author}" if author != "" else pk


def _from_cache(
    ids: list[int], flat: list, *, anonymous: bool, feed: dict[int, int] | None
) -> list[tuple[int, bytes]] | None:
    """The page straight from what `render` returned when all of it was there (the
    common case, kept lean); None when anything must come from PostgreSQL."""
    out = []
    for i, post_id in enumerate(ids):
        _, body, _, card, delta, *marks, _, by_card = flat[_STRIDE * i : _STRIDE * i + _STRIDE]
        if not body or not card or (-1 in marks and not anonymous):
            return None
        reposted_by = False
        if feed is not None:
            reposted_by = None
            if post_id in feed:
                if not by_card:
                    return None
                reposted_by = by_card[by_card.index(b"|") + 1 :]
        parts = body.split(b"|", 3)  # version, author, stored likes, JSON
        if len(parts) < 4:
            return None  # a tombstone
        json = _post_json(
            post_id,
            card[card.index(b"|") + 1 :],
            parts[3],
            int(parts[2]) + delta,
            (marks[0] == 1, marks[1] == 1, marks[2] == 1),
            reposted_by,
        )
        out.append((int(parts[1]), json))
    return out


def render_post(viewer: User, post: Post | int) -> bytes | None:
    """One post as the viewer may see it (an author sees their own hidden or pending post)."""
    rendered = render_posts(viewer, [post], only_visible=False)
    return rendered[0] if rendered else None


def render_new_post(post: Post) -> bytes:
    """The post just published (its author loaded, as posts.sql.PUBLISH_NEW reads them), as
    its creation answers it: from the rows, with no call to the cache (nobody can have
    liked, bookmarked or reposted it yet). The fan-out worker caches it (`cache_posts`)."""
    return _post_json(post.pk, _card(post.author), _fragment(post), 0, (False,) * 3, False)


def cache_posts(posts: Sequence[Post]) -> None:
    """Cache posts just published (and their authors' summaries), as a read would: so that
    their first readers find them (the fan-out worker, once the post is committed).

    Passed on as lean rows (id and author): the bodies are read from PostgreSQL after
    their versions, so a row loaded before an edit cannot be cached over it."""
    lean = [Post.from_db(None, ["id", "author_id"], [post.pk, post.author_id]) for post in posts]
    render_posts(AnonymousUser(), lean)


def as_list(rendered: list[bytes]) -> bytes:
    return b"[" + b",".join(rendered) + b"]"


def _entries(ids: list[int], flat: list | None) -> dict[int, _Entry]:
    """What `render` returned, per post (flat None: Redis was unreachable)."""
    entries: dict[int, _Entry] = {}
    for i, post_id in enumerate(ids):
        entry = entries[post_id] = _Entry()
        entry.author_id = None
        if flat is None:  # Redis down: everything from PostgreSQL, nothing cached
            entry.version = entry.card_version = None
            entry.body = entry.card = None
            entry.delta, entry.mine, entry.bookmarked, entry.reposted = 0, -1, -1, -1
            entry.reposter_card_version = entry.reposter_card = None
            continue
        version, body, card_version, card, entry.delta, *marks, by_version, by_card = flat[
            _STRIDE * i : _STRIDE * i + _STRIDE
        ]
        entry.mine, entry.bookmarked, entry.reposted = marks
        entry.reposter_card_version = by_version or None
        entry.reposter_card = by_card.split(b"|", 1)[1] if by_card else None
        entry.version, entry.card_version = version, card_version or None
        entry.body = _split_body(body) if body else None
        entry.card = card.split(b"|", 1)[1] if card else None
        if entry.body is not None and entry.body[2] == _TOMBSTONE:
            entry.author_id, entry.body = int(entry.body[0]), None
            entry.version = b"tombstone"
    return entries


def _split_body(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """b"<version>|<author>|<likes>|<json>" -> (author, likes, json); a tombstone has no
    likes: (author, b"", b"-")."""
    _, author, rest = raw.split(b"|", 2)
    if rest == _TOMBSTONE:
        return author, b"", _TOMBSTONE
    likes, fragment = rest.split(b"|", 1)
    return author, likes, fragment


def _fill_misses(
    ids: list[int],
    entries: dict[int, _Entry],
    loaded: dict[int, Post],
    *,
    only_visible: bool,
    viewer_id: int | None,
    feed: dict[int, int] | None = None,
) -> None:
    """Render from PostgreSQL what the cache lacked, and cache it: bodies, then cards
    (authors', and in a feed reposters')."""

    def body_needed(entry: _Entry) -> bool:
        # A tombstone answers "not visible" unless its author is the one asking.
        return entry.body is None and (
            entry.version != b"tombstone" or (not only_visible and entry.author_id == viewer_id)
        )

    fills: list[tuple[str, object, bytes]] = []
    need_body = [post_id for post_id in ids if body_needed(entries[post_id])]
    fetch = [post_id for post_id in need_body if post_id not in loaded]
    if fetch:
        loaded.update(
            Post.objects.select_related("author")
            .filter(pk__in=fetch, deleted_at__isnull=True)
            .in_bulk()
        )
    posts = [loaded[p] for p in need_body if p in loaded and loaded[p].deleted_at is None]
    for post in posts:
        entry, fragment = entries[post.pk], _fragment(post)
        if post.is_visible:
            header = b"%d|%d|" % (post.author_id, post.like_count)
            fills.append((post_key(post.pk), entry.version, header + fragment))
        else:
            fills.append((post_key(post.pk), entry.version, b"%d|-" % post.author_id))
        if post.is_visible or (not only_visible and post.author_id == viewer_id):
            entry.body = (str(post.author_id).encode(), b"%d" % post.like_count, fragment)
            entry.author_id = post.author_id

    feed = feed or {}
    need_card = [e for e in entries.values() if e.body is not None and e.card is None]
    need_reposter = [
        (feed[pid], e)
        for pid, e in entries.items()
        if e.body is not None and pid in feed and e.reposter_card is None
    ]
    if need_card or need_reposter:
        user_ids = {int(e.body[0]) for e in need_card} | {user for user, _ in need_reposter}
        users = {p.author_id: p.author for p in loaded.values() if p.author_id in user_ids}
        users.update(User.objects.in_bulk(user_ids - users.keys()))
        cards = {user.pk: _card(user) for user in users.values()}
        for entry in need_card:
            entry.card = cards[int(entry.body[0])]
            # A card's version is unknown when neither the caller nor a cached post named
            # the author: the card is then cached by a later render.
            fills.append((_card_key(int(entry.body[0])), entry.card_version, entry.card))
        for user_id, entry in need_reposter:
            entry.reposter_card = cards.get(user_id)  # None (null): the reposter is gone
            if entry.reposter_card is not None:
                fills.append((_card_key(user_id), entry.reposter_card_version, entry.reposter_card))
    _fill(fills)


def _fragment(post: Post) -> bytes:
    """What the cache keeps of a post's own fields: its JSON without the braces."""
    from posts.serializers import PostBodySerializer

    return orjson.dumps(represent(PostBodySerializer, post))[1:-1]


def _card(user: User) -> bytes:
    """The author summary embedded in posts, as `card:{id}` caches it."""
    from posts.serializers import AuthorSerializer

    return orjson.dumps(represent(AuthorSerializer, user))


def _fill(fills: list[tuple[str, object, bytes]]) -> None:
    # Read without Redis, or over a tombstone whose version we lack: nothing to store.
    calls = [
        (_FILL, [key, version_key(key)], [version, b"%s|%s" % (version, payload), CACHE_TTL_S])
        for key, version, payload in fills
        if version is not None and version != b"tombstone"
    ]
    if calls:
        with contextlib.suppress(puppies_redis.Unavailable):
            puppies_redis.run_scripts(calls)


def _generation(ids: list[int], flat: list | None) -> bytes | None:
    """The generation of the viewer's missing saved set, as `render` returned it (after
    the posts and the hidden authors)."""
    if flat is None or len(flat) <= _STRIDE * len(ids) + 1:
        return None
    return flat[_STRIDE * len(ids) + 1]


def _look_up_viewer_marks(
    viewer_id: int | None, entries: dict[int, _Entry], generation: bytes | None
) -> None:
    """What Redis could not say of the viewer's likes, bookmarks and reposts, from
    PostgreSQL in one query; a missing saved set is read whole and built on the way."""
    shown = [(pid, e) for pid, e in entries.items() if e.body is not None]
    liked_among = [pid for pid, e in shown if e.mine == -1]
    saved_among = [pid for pid, e in shown if -1 in (e.bookmarked, e.reposted)]
    marks: dict[str, set[int]] = {"l": set(), "b": set(), "r": set()}
    if viewer_id is not None and (liked_among or saved_among):
        whole = generation is not None and bool(saved_among)
        rows = interactions_selectors.viewer_marks(
            viewer_id,
            liked_among=liked_among,
            saved_among=None if whole else saved_among,
            saved_limit=viewer_sets.SET_MAX + 1,
        )
        saved = [(kind, post_id) for kind, post_id in rows if kind != "l"]
        if whole:
            viewer_sets.build(viewer_id, generation, saved)
            if len(saved) > viewer_sets.SET_MAX:  # the page's may be past the limit
                saved = interactions_selectors.viewer_marks(
                    viewer_id, liked_among=[], saved_among=saved_among
                )
        for kind, post_id in [*rows, *saved]:
            if kind == "l" or post_id in saved_among:
                marks[kind].add(post_id)
    for post_id, entry in entries.items():
        entry.mine = post_id in marks["l"] if entry.mine == -1 else entry.mine == 1
        entry.bookmarked = (
            post_id in marks["b"] if entry.bookmarked == -1 else entry.bookmarked == 1
        )
        entry.reposted = post_id in marks["r"] if entry.reposted == -1 else entry.reposted == 1
