import pytest
from django.test import Client

from posts.tests.factories import PostFactory
from users.models import User
from users.tests.factories import UserFactory


@pytest.fixture
def moderator(db):
    return UserFactory(role=User.Role.MODERATOR, is_staff=True)


@pytest.fixture
def site_admin(db):
    return UserFactory(role=User.Role.ADMIN, is_staff=True)


@pytest.fixture
def member(db):
    return UserFactory()


@pytest.fixture
def post(db, member):
    return PostFactory(author=member)


@pytest.fixture
def admin_client_for():
    """admin_client_for(user) -> a Django test client with an admin session for that user."""

    def make(some_user):
        client = Client()
        client.force_login(some_user)
        return client

    return make


@pytest.fixture
def redis_down(settings):
    """Point the cache and the rate-limit counters at a port nothing listens on."""
    from django.core.cache import caches

    dead = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        alias: {**config, "LOCATION": dead} for alias, config in settings.CACHES.items()
    }
    yield
    for alias in settings.CACHES:
        caches[alias].close()
