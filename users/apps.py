from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        import puppies.schema  # noqa: F401 - registers the OpenAPI auth extension
        from users import revocations
        from users.models import User

        # However an account is deleted (admin, shell), its tokens die with it.
        post_delete.connect(
            lambda instance, **_: revocations.forget_user(instance.pk),
            sender=User,
            weak=False,
            dispatch_uid="users.revocations.forget_user",
        )
