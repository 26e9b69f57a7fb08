from django.urls import path

from users import views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="register"),
    path("auth/token", views.LoginView.as_view(), name="token"),
    path("auth/token/refresh", views.RefreshView.as_view(), name="token-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/email/verify", views.EmailVerifyView.as_view(), name="email-verify"),
    path(
        "auth/email/verification",
        views.EmailVerificationView.as_view(),
        name="email-verification",
    ),
    path("auth/password", views.PasswordChangeView.as_view(), name="password-change"),
    path("users/me", views.MeView.as_view(), name="me"),
    path("users/me/blocks", views.MyBlocksView.as_view(), name="my-blocks"),
    path("users/me/mutes", views.MyMutesView.as_view(), name="my-mutes"),
    path("users/<int:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/@<str:username>", views.UserDetailView.as_view(), name="user-by-username"),
    path("users/<int:user_id>/follow", views.FollowView.as_view(), name="user-follow"),
    path("users/<int:user_id>/block", views.BlockView.as_view(), name="user-block"),
    path("users/<int:user_id>/mute", views.MuteView.as_view(), name="user-mute"),
    path("users/<int:user_id>/followers", views.FollowersView.as_view(), name="user-followers"),
    path("users/<int:user_id>/following", views.FollowingView.as_view(), name="user-following"),
    path("search/users", views.SearchUsersView.as_view(), name="search-users"),
]
