"""Locust scenario of bench/load.py: agents who log in, list the inbox, open conversations and reply.

Run by bench/load.py (`locust --headless`); not a benchmark on its own. Each simulated agent logs in
with its own account (agent01 … agent20 of bench/dataset.py) through the login form, then, with a
think time between actions: refreshes the "awaiting reply" list (the htmx partial the page polls),
opens a conversation from it (the htmx pane) and now and then replies to it (an htmx POST with the
CSRF token; the reply waits in the outbox). Statistics are reset once every agent is signed in, and
the run stops $BENCH_DURATION seconds later: the figures cover the steady state only; the logins' own
times go to $BENCH_LOGIN_TIMES (JSON).
"""

from __future__ import annotations

import json
import os
import random
import re
import time

import gevent
from gevent.event import Event
from locust import HttpUser, between, events, task

USERS = int(os.environ.get("BENCH_USERS", "20"))
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-haslo-2026")
WAIT = [float(x) for x in os.environ.get("BENCH_WAIT", "0.5,1.5").split(",")]
DURATION = float(os.environ.get("BENCH_DURATION", "60"))
ROW = re.compile(r'data-conversation="(\d+)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REPLIES = [
    "Dzień dobry, dziękujemy za wiadomość. Przesyłka została nadana, numer śledzenia jest w Allegro.",
    "Dzień dobry, zwrot zaksięgowaliśmy, pieniądze wrócą na konto w ciągu 3 dni roboczych.",
    "Dzień dobry, fakturę VAT wysłaliśmy na adres e-mail z zamówienia. Pozdrawiamy serdecznie",
    "Przepraszamy za kłopot, reklamację rozpatrzymy w ciągu 14 dni. Z poważaniem",
]
LIST_HEADERS = {"HX-Request": "true", "HX-Target": "conversation-list"}
PANE_HEADERS = {"HX-Request": "true", "HX-Target": "conversation-pane"}

_numbers = iter(range(1, 10_000))
_signed_in = 0
_all_signed_in = Event()
_login_ms: list[float] = []


class Agent(HttpUser):
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        global _signed_in
        self.username = f"agent{next(_numbers) % 20 + 1:02d}"
        page = self.client.get("/login/", name="login form")
        token = CSRF_INPUT.search(page.text).group(1)
        start = time.perf_counter()
        with self.client.post(
            "/login/",
            data={"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login of {self.username}: {response.status_code}")
        _login_ms.append((time.perf_counter() - start) * 1000)
        self.ids: list[str] = []
        self.list_inbox()
        _signed_in += 1
        if _signed_in >= USERS:
            self.environment.runner.stats.reset_all()  # measure the steady state only
            _all_signed_in.set()
            gevent.spawn_later(DURATION, self.environment.runner.quit)
        _all_signed_in.wait()

    @task(4)
    def list_inbox(self) -> None:
        response = self.client.get("/?filter=awaiting", headers=LIST_HEADERS, name="list (htmx)")
        self.ids = ROW.findall(response.text) or self.ids

    @task(4)
    def open_conversation(self) -> None:
        if self.ids:
            pk = random.choice(self.ids)
            self.client.get(f"/c/{pk}/", headers=PANE_HEADERS, name="open (htmx pane)")

    @task(1)
    def reply(self) -> None:
        if not self.ids:
            return
        pk = random.choice(self.ids)
        csrf = self.client.cookies.get("csrftoken", "")
        with self.client.post(
            f"/c/{pk}/reply/",
            data={"text": random.choice(REPLIES), "confirmed": "1"},
            headers={**PANE_HEADERS, "X-CSRFToken": csrf, "Referer": self.host + "/"},
            name="reply (htmx)",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"reply: {response.status_code}")


@events.quitting.add_listener
def _write_login_times(environment, **_kwargs) -> None:
    path = os.environ.get("BENCH_LOGIN_TIMES")
    if path:
        with open(path, "w") as fh:
            json.dump(_login_ms, fh)
