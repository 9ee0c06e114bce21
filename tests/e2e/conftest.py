"""End-to-end fixtures: a real Celery worker and beat in subprocesses, and headless Chromium.

The worker talks to the same test database (committed data: use with `live_server` or
`transactional_db`), the same Redis broker as the test process, and the in-process Allegro sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import ChannelAccount, Membership
from integrations.allegro.client import TokenSet
from tests.factories import MembershipFactory, OrganizationFactory

ROOT = Path(__file__).resolve().parents[2]
# Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


def _stack_env(sandbox_url: str) -> dict[str, str]:
    env = os.environ.copy()
    db = connection.settings_dict
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=django_settings.REDIS_URL,
        FIELD_ENCRYPTION_KEYS=",".join(django_settings.FIELD_ENCRYPTION_KEYS),
        ALLEGRO_API_URL=sandbox_url,
        ALLEGRO_AUTH_URL=sandbox_url,
        ALLEGRO_REQUESTS_PER_MINUTE="100000",
        REPLYDESK_POLL_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def celery_stack(transactional_db, allegro_sandbox, tmp_path):
    """A real worker (all queues) and beat (1 s account polling) against the test database."""
    redis.Redis.from_url(django_settings.REDIS_URL).flushdb()
    env = _stack_env(allegro_sandbox.url)
    worker_log = tmp_path / "worker.log"
    beat_log = tmp_path / "beat.log"
    procs = []
    with open(worker_log, "w") as wl, open(beat_log, "w") as bl:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "celery,sync,outbound,sla",
                    "-P",
                    "threads",
                    "-c",
                    "4",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"e2e-{os.getpid()}@%h",
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env=env,
                stdout=wl,
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "-s",
                    str(tmp_path / "beat-schedule"),
                    "--loglevel",
                    "INFO",
                ],
                cwd=ROOT,
                env=env,
                stdout=bl,
                stderr=subprocess.STDOUT,
            )
        )
    deadline = time.monotonic() + 60
    while "ready." not in worker_log.read_text():
        if time.monotonic() > deadline or procs[0].poll() is not None:
            raise RuntimeError("celery worker did not start:\n" + worker_log.read_text()[-3000:])
        time.sleep(0.2)
    yield {"worker_log": worker_log, "beat_log": beat_log, "procs": procs}
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    connection.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (bin/ensure-test-system-deps)"
        )
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(
        locale="pl-PL", timezone_id="Europe/Warsaw", viewport={"width": 1400, "height": 900}
    )
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def workspace(transactional_db, allegro_sandbox):
    org = OrganizationFactory(name="Sklep E2E", slug="e2e")
    agent = MembershipFactory(organization=org, user__username="agentka", role=Membership.Role.AGENT).user
    MembershipFactory(organization=org, user__username="kierownik", role=Membership.Role.LEAD)
    tokens = TokenSet.from_response(allegro_sandbox.mint_token(seller="SklepTest"), now=timezone.now())
    account = ChannelAccount.objects.create(
        organization=org,
        kind="allegro",
        name="SklepTest",
        external_id="e2e",
        health="ok",
        credentials=tokens.as_credentials(),
    )
    return org, agent, account


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "haslo-testowe-1")
    page.click("button[type=submit]")
    expect(page.locator(".topbar")).to_be_visible()
