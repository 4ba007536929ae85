from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import audit, roles

        audit.connect_signals()
        # The three roles exist wherever the app's tables do, with the permissions roles.py names.
        post_migrate.connect(roles.ensure_roles_after_migrate, sender=self)
