"""SLA clocks (issue #3 builds the engine; inbox calls `sla_on_message` for every stored message)."""

from __future__ import annotations


def sla_on_message(message) -> None:
    """Start, or stop, the reply clocks a stored message affects."""
    return None
