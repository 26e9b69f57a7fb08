"""Helpers of interactions' tests."""


def detail(client, post_id: int) -> dict:
    response = client.get(f"/v1/posts/{post_id}")
    assert response.status_code == 200, response.content
    return response.json()


def marks(client, post_id: int) -> tuple[bool, bool, int]:
    body = detail(client, post_id)
    return body["bookmarked_by_me"], body["reposted_by_me"], body["repost_count"]
