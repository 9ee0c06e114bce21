from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from inbox import fields
from inbox.models import ChannelAccount


def _raw(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account_id])
        return cursor.fetchone()[0]


def test_rotate_secrets_re_encrypts_with_the_new_key(org, settings):
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    account = ChannelAccount.objects.create(
        organization=org, kind="email", name="skrzynka", credentials={"imap_password": "tajne-haslo"}
    )
    before = _raw(account.pk)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    fields.reset_key_cache()
    try:
        call_command("rotate_secrets", stdout=open("/dev/null", "w"))  # noqa: SIM115
        after = _raw(account.pk)
        assert after != before and "tajne-haslo" not in after
        # Only the new key is needed from now on.
        settings.FIELD_ENCRYPTION_KEYS = [new_key]
        fields.reset_key_cache()
        account.refresh_from_db()
        assert account.credentials == {"imap_password": "tajne-haslo"}
    finally:
        settings.FIELD_ENCRYPTION_KEYS = old_keys
        fields.reset_key_cache()
