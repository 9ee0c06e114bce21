"""Shared fixtures. Sandbox fixtures live in tests/fixtures_sandbox.py (a plugin)."""

pytest_plugins = ["tests.fixtures_sandbox"]
