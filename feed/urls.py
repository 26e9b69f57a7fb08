from django.urls import path

from feed import views

urlpatterns = [
    path("feed", views.FeedView.as_view(), name="feed"),
]
