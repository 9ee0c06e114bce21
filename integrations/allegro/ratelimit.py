"""Rate limits shared by every process talking to Allegro (allegro-api.md §2).

- A client-wide budget per minute, kept under Allegro's 9000 requests/min per Client ID (going
  over blocks the Client ID for a minute, and calling while blocked extends the block).
- One message POST per second per Allegro user.

The counters live in the Django cache (Redis in production), so several workers on several
machines share them. With the embedded file cache they are approximate but still per machine.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

MAX_WAIT_SECONDS = 65.0


def acquire_request_budget(client_id: str, *, sleep=time.sleep, clock=time.time) -> float:
    """Take one request from the per-minute budget, waiting for the next minute if it is spent.

    Returns the seconds waited.
    """
    waited = 0.0
    limit = settings.ALLEGRO_REQUESTS_PER_MINUTE
    while True:
        now = clock()
        minute = int(now // 60)
        key = f"allegro:rpm:{client_id}:{minute}"
        cache.add(key, 0, 120)
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr
            continue
        if used <= limit or waited >= MAX_WAIT_SECONDS:
            return waited
        pause = (minute + 1) * 60 - now + 0.01
        sleep(pause)
        waited += pause


def acquire_message_post_slot(user_key: str, *, sleep=time.sleep, clock=time.time) -> float:
    """Wait until this Allegro user may POST a message again (≥ 1 s after the previous one)."""
    interval = 1.0 / settings.ALLEGRO_MESSAGE_POSTS_PER_SECOND
    lock_key = f"allegro:post-lock:{user_key}"
    last_key = f"allegro:post-last:{user_key}"
    waited = 0.0
    while not cache.add(lock_key, "1", 5):
        sleep(0.05)
        waited += 0.05
        if waited > MAX_WAIT_SECONDS:
            break
    try:
        last = cache.get(last_key)
        now = clock()
        if last is not None and now - float(last) < interval:
            pause = interval - (now - float(last)) + 0.02
            sleep(pause)
            waited += pause
        cache.set(last_key, clock(), 60)
    finally:
        cache.delete(lock_key)
    return waited
