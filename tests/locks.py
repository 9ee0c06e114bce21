"""Helpers for tests that race two database sessions."""

from __future__ import annotations

import time

from django.db import connection


def wait_until_a_session_waits_on_a_lock(timeout: float = 30) -> None:
    """Return once another session of the test database waits on a lock (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
