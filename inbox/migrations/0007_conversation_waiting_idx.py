"""Issue #9 (bench/inbox_pages.py): the waiting conversations by primary key, for index-only probes from
the open clocks (the awaiting list and its "due soon" count)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0006_conversation_open_idx"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("awaiting_reply_since__isnull", False), models.Q(("status", "closed"), _negated=True)),
                fields=["id", "organization"],
                name="conv_waiting_idx",
            ),
        ),
    ]
