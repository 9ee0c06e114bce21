"""`make run`: the web app, a Celery worker, Celery beat and the local Allegro sandbox, together.

Ctrl-C (SIGINT) or SIGTERM stops every child cleanly (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand

from inbox.management.commands.demo_setup import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Run web + worker + beat + Allegro sandbox (with buyer simulator) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8765")))
        parser.add_argument(
            "--simulate-rate",
            type=float,
            default=float(os.environ.get("SIMULATE_RATE", "20")),
            help="seconds between simulated buyer messages",
        )
        parser.add_argument(
            "--no-sandbox", action="store_true", help="use a real Allegro (ALLEGRO_* settings)"
        )

    def handle(self, *args, host, port, sandbox_port, simulate_rate, no_sandbox, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        env = os.environ.copy()
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nStopping…")
            for _name, proc in reversed(self.children):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for name, proc in self.children:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    self.stdout.write(f"{name} did not stop in time; killing it")
                    proc.kill()
            self.stdout.write("All stopped.")

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        try:
            if not no_sandbox:
                sandbox_url = f"http://127.0.0.1:{sandbox_port}"
                env["ALLEGRO_API_URL"] = env["ALLEGRO_AUTH_URL"] = sandbox_url
                settings.ALLEGRO_API_URL = settings.ALLEGRO_AUTH_URL = sandbox_url
                self._start(
                    "sandbox",
                    [
                        python,
                        manage,
                        "allegro_sandbox",
                        "--port",
                        str(sandbox_port),
                        "--simulate",
                        "--rate",
                        str(simulate_rate),
                        "--auto-approve",
                    ],
                    env,
                )
                self._wait_http(f"{sandbox_url}/_sandbox/health", "sandbox")
            self._start(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "-Q",
                    "celery,sync,outbound,sla,webhooks",
                    "--concurrency",
                    "2",
                    "-n",
                    "demo@%h",
                ],
                env,
            )
            self._start(
                "beat",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "-s",
                    settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ],
                env,
            )
            self._start("web", [python, manage, "runserver", f"{host}:{port}", "--noreload"], env)
            self._wait_http(f"http://{host}:{port}/login/", "web")
            if not no_sandbox:
                self._connect_demo_account()
            self._banner(host, port)
            while not stopping:
                for name, proc in self.children:
                    if proc.poll() is not None and not stopping:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping everything")
                        stop()
                        break
                time.sleep(0.5)
        finally:
            stop()

    def _start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.stdout.write(f"starting {name}: {' '.join(cmd[1:])}")
        # Children get their own process group so a terminal Ctrl-C reaches only us; we stop them.
        self.children.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))

    def _wait_http(self, url: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} did not come up at {url}")

    def _connect_demo_account(self) -> None:
        from inbox.models import ChannelAccount, Organization
        from integrations.allegro.connect import allegro_connect_poll, allegro_connect_start

        org = Organization.objects.get(slug="demo")
        if ChannelAccount.objects.filter(organization=org, kind="allegro", health="ok").exists():
            return
        ChannelAccount.objects.filter(organization=org, kind="allegro").exclude(health="ok").delete()
        account = allegro_connect_start(organization=org, name="Allegro (sandbox)")
        self.stdout.write(
            f"Connecting the demo Allegro account (device code {account.connect_state['user_code']}, "
            "approved by the sandbox)…"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state, wait = allegro_connect_poll(account.pk)
            if state == "connected":
                from celery import current_app

                from integrations.tasks import channel_account_sync

                channel_account_sync.delay(account.pk)
                current_app.send_task("sla.tasks.quality_snapshots_import", args=[account.pk])
                self.stdout.write(self.style.SUCCESS("Demo Allegro account connected."))
                return
            if state == "failed":
                raise RuntimeError("the sandbox did not approve the demo device code")
            time.sleep(max(wait, 1))
        raise RuntimeError("timed out connecting the demo Allegro account")

    def _banner(self, host: str, port: int) -> None:
        lines = [
            "",
            "=" * 64,
            f"  Replydesk is running:  http://{host}:{port}/",
            "  Logins (password for all: " + DEMO_PASSWORD + "):",
        ]
        lines += [f"    {u:<12} {role.label}" for u, _f, _l, role in DEMO_USERS]
        lines += [
            "  Buyers write in every few seconds (the sandbox simulator).",
            "  Ctrl-C stops everything.",
            "=" * 64,
            "",
        ]
        self.stdout.write("\n".join(lines))
