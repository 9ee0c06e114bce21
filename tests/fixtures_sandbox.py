"""Pytest plugin: the local Allegro sandbox as fixtures (registered by tests/conftest.py).

* `allegro_sandbox_server` (session): one in-process sandbox on a free port (a `SandboxHandle`).
* `allegro_sandbox` (function): resets the sandbox, points `settings.ALLEGRO_API_URL` and
  `settings.ALLEGRO_AUTH_URL` at it (client `sandbox-client` / `sandbox-secret`) and returns a
  `SandboxClient` of the control API:

      def test_sync(allegro_sandbox):
          allegro_sandbox.buyer_writes("kasia_zakupy88", "Czy wyślecie dziś?", order_id=None)
          token = allegro_sandbox.mint_token()["access_token"]   # or run the device flow + .approve()
          ...
          assert allegro_sandbox.sent()[0]["text"] == "Tak"
          assert allegro_sandbox.count("GET", "/messaging/threads") == 1

Neither fixture needs the database.
"""

from __future__ import annotations

import pytest

from integrations.allegro.sandbox.client import SandboxClient
from integrations.allegro.sandbox.server import start_sandbox

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


@pytest.fixture(scope="session")
def allegro_sandbox_server():
    handle = start_sandbox(port=0, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, seed=20250228)
    yield handle
    handle.stop()


@pytest.fixture
def allegro_sandbox(allegro_sandbox_server, settings):
    client = SandboxClient(
        allegro_sandbox_server.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        handle=allegro_sandbox_server,
    )
    client.reset()
    settings.ALLEGRO_API_URL = allegro_sandbox_server.url
    settings.ALLEGRO_AUTH_URL = allegro_sandbox_server.url
    settings.ALLEGRO_CLIENT_ID = CLIENT_ID
    settings.ALLEGRO_CLIENT_SECRET = CLIENT_SECRET
    yield client
    client.close()
