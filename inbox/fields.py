"""Encrypted model fields for channel secrets (OAuth tokens, mailbox passwords).

The keys are FIELD_ENCRYPTION_KEYS (MultiFernet: the first key encrypts, every key decrypts), kept
apart from SECRET_KEY so that rotating one does not touch the other. `manage.py rotate_secrets`
re-encrypts every value with the first key. Without configured keys (development only), a key is
generated once into var/field-keys.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        path = settings.VAR_DIR / "field-keys"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(Fernet.generate_key().decode() + "\n")
            path.chmod(0o600)
        keys = [k.strip() for k in path.read_text().split(",") if k.strip()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds an invalid Fernet key") from exc


def reset_key_cache() -> None:
    _fernet.cache_clear()


def encrypt_str(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_str(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)"
        ) from exc


def rotate_str(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON document stored as one Fernet token. Never logged; repr shows nothing."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return {}
        return json.loads(decrypt_str(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(decrypt_str(value))

    def get_prep_value(self, value: Any) -> str:
        return encrypt_str(json.dumps(value or {}, sort_keys=True))
