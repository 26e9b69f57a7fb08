"""The API and its OpenAPI schema agree (issue 12): each case schemathesis found.

`.ci/run` runs schemathesis itself (scripts/api_contract.py); these pin the fixes, so a
regression shows in `make test` too.
"""

import jsonschema_rs
import pytest

from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api):
    return api.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def component(schema, name: str) -> dict:
    return schema["components"]["schemas"][name]


def conforms(value, property_schema: dict) -> bool:
    return jsonschema_rs.validator_for(property_schema, validate_formats=True).is_valid(value)


def parameter(schema, path: str, name: str, method: str = "get") -> dict:
    return next(p for p in schema["paths"][path][method]["parameters"] if p["name"] == name)


def test_a_user_without_an_avatar_matches_the_schema_of_every_user_summary(schema, client_for, api):
    user = UserFactory(avatar_url="")
    post = PostFactory(author=user)

    me = client_for(user).get("/v1/users/me").json()
    author = api.get(f"/v1/posts/{post.id}").json()["author"]

    assert me["avatar_url"] == author["avatar_url"] == ""  # unchanged for clients
    for name in ("User", "Me", "Author"):
        assert conforms("", component(schema, name)["properties"]["avatar_url"]), name
        assert conforms(
            "https://cdn.example.com/a.jpg", component(schema, name)["properties"]["avatar_url"]
        )


def test_avatar_url_is_set_by_upload_only_and_patch_takes_what_the_schema_says(as_user, schema):
    avatar = component(schema, "PatchedProfileUpdateRequest")["properties"]["avatar_url"]

    for url, accepted in [
        ("", True),  # removes the avatar
        ("https://cdn.example.com/a.jpg", False),  # only the upload flow sets one
        ("ftp://example.com/a.jpg", False),
        ("javascript:alert(1)", False),
    ]:
        response = as_user.patch("/v1/users/me", {"avatar_url": url}, format="json")
        assert (response.status_code == 200) is accepted, (url, response.json())
        assert conforms(url, avatar) is accepted, url
        if not accepted:
            assert "POST /v1/users/me/avatar" in response.json()["error"]["fields"]["avatar_url"][0]


@pytest.mark.parametrize(
    ("url", "method", "body", "field"),
    [
        ("/v1/users/me", "patch", {"bio": 0}, "bio"),
        ("/v1/users/me", "patch", {"display_name": 12}, "display_name"),
        ("/v1/posts", "post", {"content": 0}, "content"),
    ],
)
def test_numbers_are_not_text(as_user, url, method, body, field):
    response = getattr(as_user, method)(url, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"][field] == ["Not a valid string."]


def test_a_post_created_without_media_has_no_upload_and_the_schema_allows_that(as_user, schema):
    body = as_user.post("/v1/posts", {"content": "hi"}, format="json").json()

    assert "upload" not in body
    assert set(component(schema, "CreatedPost")["required"]) <= set(body)


def test_patch_of_a_post_with_nothing_to_change_answers_it_unchanged(client_for, user):
    post = PostFactory(author=user, content="as it was")

    response = client_for(user).patch(f"/v1/posts/{post.id}", {}, format="json")

    assert response.status_code == 200
    assert response.json()["content"] == "as it was"
    other = client_for(UserFactory()).patch(f"/v1/posts/{post.id}", {}, format="json")
    assert other.status_code == 403  # still only the author's to edit


def test_the_schema_excludes_what_the_api_refuses(schema):
    feed_limit = parameter(schema, "/v1/feed", "limit")["schema"]
    assert (feed_limit["minimum"], feed_limit["maximum"]) == (1, 100)
    for path in ("/v1/search/posts", "/v1/search/users"):
        assert parameter(schema, path, "q")["schema"]["minLength"] == 1
    follow = schema["paths"]["/v1/users/{user_id}/follow"]["post"]["responses"]["400"]
    assert "following yourself" in follow["description"]
    assert "cursor" in schema["paths"]["/v1/feed"]["get"]["responses"]["400"]["description"]
    assert "409" in schema["paths"]["/v1/auth/register"]["post"]["responses"]


@pytest.mark.parametrize(("relation", "verb"), [("block", "blocking"), ("mute", "muting")])
def test_blocking_or_muting_yourself_is_a_documented_400(schema, as_user, user, relation, verb):
    operation = schema["paths"][f"/v1/users/{{user_id}}/{relation}"]["post"]

    response = as_user.post(f"/v1/users/{user.id}/{relation}")

    assert response.status_code == 400
    assert f"{verb} yourself" in operation["responses"]["400"]["description"]


@pytest.mark.parametrize("query", ["limit=5&limit=", "limit=5&limit=6", "cursor=a&cursor=b"])
def test_a_page_parameter_given_twice_is_400(as_user, user, query):
    for path in ("/v1/feed", f"/v1/users/{user.id}/posts"):
        response = as_user.get(f"{path}?{query}")

        assert response.status_code == 400, path
        name = query.split("=")[0]
        assert response.json()["error"]["fields"][name] == ["Give this parameter once."]


def test_an_empty_limit_or_cursor_means_the_default_first_page(as_user, user):
    PostFactory(author=user)

    response = as_user.get(f"/v1/users/{user.id}/posts?limit=&cursor=")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_the_schema_says_text_has_no_nul_as_the_api_refuses_it(as_user, schema):
    display_name = component(schema, "PatchedProfileUpdateRequest")["properties"]["display_name"]

    response = as_user.patch("/v1/users/me", {"display_name": "a\u0000b"}, format="json")

    assert response.status_code == 400
    assert not conforms("a\u0000b", display_name)
    assert conforms("a b", display_name)


def test_a_created_post_links_to_its_own_operations(schema, as_user):
    links = schema["paths"]["/v1/posts"]["post"]["responses"]["201"]["links"]
    post_id = as_user.post("/v1/posts", {"content": "hi"}, format="json").json()["id"]

    assert links["GetPost"] == {
        "operationId": "posts_retrieve",
        "parameters": {"post_id": "$response.body#/id"},
    }
    assert as_user.get(f"/v1/posts/{post_id}").status_code == 200
    assert {"Bookmark", "Pin", "History"} <= set(links)
    assert as_user.post(f"/v1/posts/{post_id}/pin").status_code == 201
    assert as_user.get(f"/v1/posts/{post_id}/history").status_code == 200
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {link["operationId"] for link in links.values()} <= operations
