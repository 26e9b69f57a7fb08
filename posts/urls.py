from django.urls import path

from posts import views

urlpatterns = [
    path("posts", views.PostCreateView.as_view(), name="post-create"),
    path("posts/<int:post_id>", views.PostDetailView.as_view(), name="post-detail"),
    path("posts/<int:post_id>/history", views.PostHistoryView.as_view(), name="post-history"),
    path("posts/<int:post_id>/pin", views.PostPinView.as_view(), name="post-pin"),
    path("uploads/<str:token>", views.MediaUploadView.as_view(), name="media-upload"),
    path("users/<int:user_id>/posts", views.UserPostsView.as_view(), name="user-posts"),
    path("users/<int:user_id>/pinned", views.UserPinnedView.as_view(), name="user-pinned"),
    path("search/posts", views.SearchPostsView.as_view(), name="search-posts"),
    path("search/users", views.SearchUsersView.as_view(), name="search-users"),
    path("hashtags/<str:tag>/posts", views.HashtagPostsView.as_view(), name="hashtag-posts"),
    path("trending/hashtags", views.TrendingHashtagsView.as_view(), name="trending-hashtags"),
]
