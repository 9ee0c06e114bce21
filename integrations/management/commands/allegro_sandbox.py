"""`manage.py allegro_sandbox`: run the local Allegro sandbox in the foreground (Ctrl-C stops it)."""

import contextlib

from django.core.management.base import BaseCommand

from integrations.allegro.sandbox.server import run_sandbox


class Command(BaseCommand):
    help = "Run the local Allegro sandbox (fake REST API + OAuth server) on one port."
    requires_system_checks = []  # the sandbox needs neither the database nor the app's URLs

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--client-id", default="sandbox-client")
        parser.add_argument("--client-secret", default="sandbox-secret")
        parser.add_argument("--simulate", action="store_true", help="play buyers writing messages")
        parser.add_argument(
            "--rate",
            type=float,
            default=20.0,
            metavar="SECONDS",
            help="average seconds between simulated buyer messages (default 20)",
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="make ids and simulated buyers deterministic"
        )
        parser.add_argument(
            "--auto-approve",
            action="store_true",
            help="approve each device-flow code for the default seller after a second",
        )
        parser.add_argument("--default-seller", default="SklepTest")
        parser.add_argument(
            "--requests-per-minute", type=int, default=9000, help="per client id (Allegro: 9000)"
        )
        parser.add_argument(
            "--public-url",
            default=None,
            help="base URL to advertise (verification_uri, attachment URLs) behind a proxy",
        )

    def handle(self, *args, **opts):
        base = opts["public_url"] or f"http://{opts['host']}:{opts['port']}"
        self.stdout.write(self.style.SUCCESS(f"Allegro sandbox on {base}"))
        self.stdout.write(f"  client id/secret: {opts['client_id']} / {opts['client_secret']}")
        self.stdout.write(
            f"  device approval:  {base}/skojarz-aplikacje"
            + ("  (auto-approve on)" if opts["auto_approve"] else "")
        )
        self.stdout.write(
            f"  control API:      {base}/_sandbox/health, /_sandbox/state, /_sandbox/messages ..."
        )
        if opts["simulate"]:
            self.stdout.write(
                f"  simulating buyers every ~{opts['rate']:g} s"
                + (f" (seed {opts['seed']})" if opts["seed"] is not None else "")
            )
        self.stdout.write("  Ctrl-C to stop.")
        self.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            run_sandbox(
                opts["host"],
                opts["port"],
                client_id=opts["client_id"],
                client_secret=opts["client_secret"],
                simulate=opts["simulate"],
                rate=opts["rate"],
                seed=opts["seed"],
                auto_approve=opts["auto_approve"],
                default_seller=opts["default_seller"],
                requests_per_minute=opts["requests_per_minute"],
                public_url=opts["public_url"],
                quiet=False,
            )
        self.stdout.write("Allegro sandbox stopped.")
