"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run
this command, then remove the old keys. Values are re-encrypted in place, row by row, on the raw
column (nothing is decrypted into logs); running it twice changes nothing more.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from inbox.fields import EncryptedJSONField, rotate_str


class Command(BaseCommand):
    help = "Re-encrypt channel and webhook secrets with the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedJSONField)]
            if not fields:
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            pk = connection.ops.quote_name(model._meta.pk.column)
            for field in fields:
                column = connection.ops.quote_name(field.column)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")
                    rows = cursor.fetchall()
                rotated = 0
                for row_pk, token in rows:
                    new = rotate_str(token)
                    if new != token:
                        with transaction.atomic(), connection.cursor() as cursor:
                            cursor.execute(
                                f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",
                                [new, row_pk, token],
                            )
                        rotated += 1
                total += rotated
                self.stdout.write(f"{model._meta.label}.{field.name}: {rotated} of {len(rows)} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{total} secrets re-encrypted with the newest key"))
