from django.urls import path

from posts import views

urlpatterns = [
    path("posts", views.PostCreateView.as_view(), name="post-create"),
    path("posts/<int:post_id>", views.PostDetailView.as_view(), name="post-detail"),
    path("users/<int:user_id>/posts", views.UserPostsView.as_view(), name="user-posts"),
]
