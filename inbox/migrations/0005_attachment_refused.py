from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inbox", "0004_search")]

    operations = [
        migrations.AddField(
            model_name="attachment",
            name="refused",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
    ]
