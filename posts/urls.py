from django.urls import path

from posts import views
from posts.media import views as media_views

urlpatterns = [
    path("posts", views.PostCreateView.as_view(), name="post-create"),
    path("posts/<int:post_id>", views.PostDetailView.as_view(), name="post-detail"),
    path("uploads/<str:token>", media_views.MediaUploadView.as_view(), name="media-upload"),
    path(
        "posts/<int:post_id>/media/complete",
        media_views.PostMediaCompleteView.as_view(),
        name="post-media-complete",
    ),
    path("users/me/avatar", media_views.AvatarView.as_view(), name="avatar"),
    path(
        "users/me/avatar/complete",
        media_views.AvatarCompleteView.as_view(),
        name="avatar-complete",
    ),
    path("posts/<int:post_id>/history", views.PostHistoryView.as_view(), name="post-history"),
    path("posts/<int:post_id>/pin", views.PostPinView.as_view(), name="post-pin"),
    path("users/<int:user_id>/posts", views.UserPostsView.as_view(), name="user-posts"),
    path("users/<int:user_id>/pinned", views.UserPinnedView.as_view(), name="user-pinned"),
    path("search/posts", views.SearchPostsView.as_view(), name="search-posts"),
    path("hashtags/<str:tag>/posts", views.HashtagPostsView.as_view(), name="hashtag-posts"),
    path("trending/hashtags", views.TrendingHashtagsView.as_view(), name="trending-hashtags"),
]
