"""Test settings: real PostgreSQL and Redis (see Makefile `test`), fast hashing."""

import os
import zlib

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/replydesk")
# A run with its own database (TEST_DATABASE_NAME, for runs side by side) gets its own Redis database
# too: the browser tests flush theirs and start a Celery worker on it.
os.environ.setdefault(
    "REDIS_URL",
    f"redis://127.0.0.1:6379/{1 + zlib.crc32(os.environ['TEST_DATABASE_NAME'].encode()) % 14}"
    if os.environ.get("TEST_DATABASE_NAME")
    else "redis://127.0.0.1:6379/15",
)
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "q8m3bbuLDTpD3xJmIwP0fS7U7k6tf3vJ-ZQ7p2G1K9A=")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_replydesk")}  # noqa: F405
LANGUAGE_CODE = "pl"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLEGRO_REQUESTS_PER_MINUTE = 100000
# The boards compute on every request in tests (tests/sla/test_quality_board.py checks the cache).
SLA_BOARD_CACHE_SECONDS = 0
