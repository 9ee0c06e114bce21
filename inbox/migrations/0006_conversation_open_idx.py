"""Issue #9 (bench/inbox_pages.py): an index of the open conversations for the "mine" and "unassigned"
lists and the filters' counts; the message's conversation index is dropped (msg_conv_time_idx starts
with the conversation and also gives the thread its order)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_attachment_refused"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("status", "closed"), _negated=True),
                fields=["organization", "assignee", "-last_message_at", "awaiting_reply_since"],
                name="conv_org_open_idx",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="conversation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="inbox.conversation",
            ),
        ),
    ]
