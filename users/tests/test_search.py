import pytest
from django.db import connection

from users import selectors
from users.models import Follow
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def usernames(response) -> list[str]:
    return [item["username"] for item in response.json()["results"]]


@pytest.mark.parametrize("q", ["a", "%", "ab", "  x  "])
def test_user_searches_too_short_for_the_trigram_index_are_400_on_q(api, q):
    response = api.get("/v1/search/users", {"q": q})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["q"]


def test_search_users_by_username_or_display_name(api):
    rex = UserFactory(username="rex_the_dog", display_name="Rex")
    owner = UserFactory(username="anna", display_name="Walks REX daily")
    UserFactory(username="bella", display_name="Bella")

    assert usernames(api.get("/v1/search/users", {"q": "rex"})) == [owner.username, rex.username]
    assert usernames(api.get("/v1/search/users", {"q": "ANN"})) == ["anna"]
    assert usernames(api.get("/v1/search/users", {"q": "zzz"})) == []


def test_search_users_treats_like_wildcards_literally(api):
    UserFactory(username="a_b")
    UserFactory(username="axb")

    assert usernames(api.get("/v1/search/users", {"q": "a_b"})) == ["a_b"]
    assert usernames(api.get("/v1/search/users", {"q": "%%%"})) == []


def test_search_users_hides_inactive_users(api):
    UserFactory(username="gone_dog", is_active=False)
    assert usernames(api.get("/v1/search/users", {"q": "gone"})) == []


def test_search_users_says_whom_the_caller_follows(client_for):
    me = UserFactory(username="me_searching")
    followed = UserFactory(username="lab_one")
    UserFactory(username="lab_two")
    Follow.objects.create(follower=me, followee=followed)

    body = client_for(me).get("/v1/search/users", {"q": "lab"}).json()

    assert [(u["username"], u["is_following"]) for u in body["results"]] == [
        ("lab_one", True),
        ("lab_two", False),
    ]
    assert set(body["results"][0]) >= {"id", "display_name", "follower_count", "created_at"}


def test_search_users_pages_with_cursors(api):
    for name in ["dog_c", "dog_a", "dog_e", "dog_b", "dog_d"]:
        UserFactory(username=name)

    first = api.get("/v1/search/users", {"q": "dog_", "limit": 2}).json()
    UserFactory(username="dog_aa")  # sorts before the cursor: must not show up or shift pages
    second = api.get(
        "/v1/search/users", {"q": "dog_", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    third = api.get(
        "/v1/search/users", {"q": "dog_", "limit": 2, "cursor": second["next_cursor"]}
    ).json()

    seen = [u["username"] for page in (first, second, third) for u in page["results"]]
    assert seen == ["dog_a", "dog_b", "dog_c", "dog_d", "dog_e"]
    assert third["next_cursor"] is None


def test_search_users_uses_the_trigram_indexes(user):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users_user (password, is_superuser, username, email, is_staff, is_active,"
            " date_joined, display_name, bio, avatar_url, role, follower_count, following_count,"
            " post_count)"
            " SELECT '!', false, 'u' || n, 'u' || n || '@example.com', false, true, now(),"
            " 'Dog ' || n, '', '', 'member', 0, 0, 0 FROM generate_series(1, 3000) AS n"
        )
        cursor.execute("ANALYZE users_user")
        # The predicate alone: with ORDER BY and LIMIT the planner may rightly walk the
        # username index instead on a table this small.
        sql, params = selectors.search_users(user, q="2999").query.sql_with_params()
        cursor.execute("SET LOCAL enable_seqscan = off")  # as above: a small table may be scanned
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "user_username_trgm" in plan
    assert "user_display_name_trgm" in plan


def test_search_users_query_count_is_constant(as_user, page_queries):
    UserFactory(username="shiba_0")

    def grow():
        for n in range(1, 15):
            UserFactory(username=f"shiba_{n}")

    small, large, response = page_queries(as_user, "/v1/search/users?q=shiba", grow)

    assert len(response.json()["results"]) == 15
    assert small == large
