"""Admin access follows the role: moderators and admins are staff, members are not."""

from django.db import migrations


def sync_staff(apps, schema_editor):
    User = apps.get_model("users", "User")
    User.objects.filter(role__in=["moderator", "admin"]).update(is_staff=True)
    User.objects.filter(role="member", is_superuser=False).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [("users", "0002_auditlog")]

    operations = [migrations.RunPython(sync_staff, migrations.RunPython.noop)]
