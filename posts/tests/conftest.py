import pytest

from puppies.celery import app as celery_app


@pytest.fixture
def eager_tasks():
    """Celery tasks run where they are queued (after commit), in this process."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
