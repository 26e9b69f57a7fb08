from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"

    def ready(self) -> None:
        import puppies.schema  # noqa: F401 - registers the OpenAPI auth extension
