"""The embedded default (`make run` on a bare machine): SQLite + kombu's filesystem broker.

Runs the real `run_stack` command (web, Celery worker, beat, Allegro sandbox) in a subprocess with
no DATABASE_URL and no REDIS_URL, then does the round trip over HTTP: a buyer writes in the
sandbox, the message shows in the inbox, an agent replies, the reply reaches the sandbox. Finally
Ctrl-C (SIGINT) must stop everything cleanly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_make_run_round_trip_on_sqlite_and_filesystem_broker(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        REPLYDESK_VAR_DIR=str(tmp_path / "var"),
        REPLYDESK_POLL_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    python = sys.executable
    for cmd in (["migrate", "--no-input"], ["demo_setup"]):
        subprocess.run([python, "manage.py", *cmd], cwd=ROOT, env=env, check=True, capture_output=True)
    web, sandbox = free_port(), free_port()
    log = open(tmp_path / "stack.log", "w+")  # noqa: SIM115 (read back below)
    proc = subprocess.Popen(
        [
            python,
            "manage.py",
            "run_stack",
            "--port",
            str(web),
            "--sandbox-port",
            str(sandbox),
            "--simulate-rate",
            "3600",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base, sbx = f"http://127.0.0.1:{web}", f"http://127.0.0.1:{sandbox}"
    try:
        wait_for(
            lambda: "Replydesk is running" in (tmp_path / "stack.log").read_text(), 120, "the stack banner"
        )
        assert (tmp_path / "var" / "replydesk.sqlite3").exists()
        with httpx.Client(base_url=base, timeout=10) as web_client:
            login_page = web_client.get("/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
            response = web_client.post(
                "/login/",
                data={"username": "agent1", "password": "demo-haslo-2026", "csrfmiddlewaretoken": token},
            )
            assert response.status_code == 302, response.text[:500]

            text = "Dzień dobry, czy paczka wyjdzie jeszcze dziś? (smoke)"
            httpx.post(
                f"{sbx}/_sandbox/messages", json={"buyer": "kupujaca_ewa", "text": text}
            ).raise_for_status()
            conversation_id = wait_for(
                lambda: re.search(
                    r'data-conversation="(\d+)"[^>]*>\s*<a[^>]*>(?:(?!</li>).)*kupujaca_ewa',
                    web_client.get("/?filter=all").text,
                    re.S,
                ),
                60,
                "the buyer message in the inbox",
            ).group(1)
            page = web_client.get(f"/c/{conversation_id}/")
            assert text in page.text
            csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
            reply = "Tak, wysyłamy dziś do 16:00. (smoke)"
            response = web_client.post(
                f"/c/{conversation_id}/reply/",
                data={"text": reply},
                headers={"X-CSRFToken": csrf, "HX-Request": "true"},
            )
            assert response.status_code == 200
            wait_for(
                lambda: reply in json.dumps(httpx.get(f"{sbx}/_sandbox/sent").json(), ensure_ascii=False),
                60,
                "the reply at the sandbox",
            )
            wait_for(
                lambda: 'data-delivery="delivered"' in web_client.get(f"/c/{conversation_id}/thread/").text,
                30,
                "the reply marked delivered",
            )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("run_stack did not stop on Ctrl-C") from None
        log.seek(0)
        output = log.read()
        log.close()
    assert "All stopped." in output, output[-3000:]
