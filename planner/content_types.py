"""A migration step for models that move between apps with their tables."""

from django.db import migrations


def move_content_types(models, old_label, new_label):
    """RunPython that gives the moved models' content types their new app label (and back on reverse), so
    their permissions and admin history keep their rows."""

    def relabel(source, target):
        def run(apps, schema_editor):
            content_types = apps.get_model("contenttypes", "ContentType")
            content_types.objects.filter(app_label=source, model__in=models).update(app_label=target)

        return run

    return migrations.RunPython(relabel(old_label, new_label), reverse_code=relabel(new_label, old_label))
