"""Local Allegro sandbox: a faithful fake of Allegro's REST API and OAuth server.

A real HTTP server (werkzeug) with in-memory state, used as the test double of every Allegro test
and as the demo's data source. See `server.start_sandbox` (in-process, tests), the management
command `allegro_sandbox` (foreground), `client.SandboxClient` (control API) and `spec` (response
validation against Allegro's official OpenAPI file).
"""

from .server import SandboxHandle, start_sandbox

__all__ = ["SandboxHandle", "start_sandbox"]
