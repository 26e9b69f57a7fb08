from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from users.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "is_active", "follower_count", "date_joined"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "email"]
    ordering = ["-date_joined"]
    fieldsets = [
        (None, {"fields": ["username", "email", "password"]}),
        ("Profile", {"fields": ["display_name", "bio", "avatar_url"]}),
        ("Role", {"fields": ["role", "is_active", "is_staff", "is_superuser"]}),
        (
            "Counters",
            {"fields": ["follower_count", "following_count", "post_count", "last_active_at"]},
        ),
    ]
    readonly_fields = ["follower_count", "following_count", "post_count", "last_active_at"]
    add_fieldsets = [
        (None, {"fields": ["username", "email", "password1", "password2"]}),
    ]
