from django.urls import path

from interactions import views

urlpatterns = [
    # comments
    path("posts/<int:post_id>/comments", views.PostCommentsView.as_view(), name="post-comments"),
    path("comments/<int:comment_id>", views.CommentDetailView.as_view(), name="comment-detail"),
    # reports
    path("posts/<int:post_id>/reports", views.PostReportsView.as_view(), name="post-reports"),
    # likes
    path("posts/<int:post_id>/likes", views.PostLikeView.as_view(), name="post-likes"),
    # likes of a user
    path("users/<int:user_id>/likes", views.UserLikesView.as_view(), name="user-likes"),
    # bookmarks and reposts
    path("posts/<int:post_id>/bookmark", views.PostBookmarkView.as_view(), name="post-bookmark"),
    path("users/me/bookmarks", views.MyBookmarksView.as_view(), name="my-bookmarks"),
    path("posts/<int:post_id>/reposts", views.PostRepostView.as_view(), name="post-reposts"),
    # notifications
    path("notifications", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read", views.NotificationReadView.as_view(), name="notifications-read"),
]
