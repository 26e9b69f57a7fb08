from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_delete

        import puppies.schema  # noqa: F401 - registers the OpenAPI auth extension
        from users import revocations, services
        from users.models import User

        # However an account is deleted (admin, shell), its tokens die with it.
        post_delete.connect(
            lambda instance, **_: revocations.forget_user(instance.pk),
            sender=User,
            weak=False,
            dispatch_uid="users.revocations.forget_user",
        )
        # Failed logins count against the account, from the API and the admin alike.
        user_login_failed.connect(
            services.count_failed_login, weak=False, dispatch_uid="users.count_failed_login"
        )
