import factory

from interactions.models import Comment, Like, Notification, Report
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory


class LikeFactory(factory.django.DjangoModelFactory):
    """A Like row as if already flushed; does not touch Post.like_count."""

    class Meta:
        model = Like

    user = factory.SubFactory(UserFactory)
    post = factory.SubFactory(PostFactory)


class CommentFactory(factory.django.DjangoModelFactory):
    """A Comment row; does not touch Post.comment_count (use the API or the service for that)."""

    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    content = factory.Sequence(lambda n: f"Good dog {n}!")


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    post = factory.SubFactory(PostFactory)
    reporter = factory.SubFactory(UserFactory)
    reason = Report.Reason.SPAM


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    actor = factory.SubFactory(UserFactory)
    type = Notification.Type.MENTION
    post = factory.SubFactory(PostFactory)
