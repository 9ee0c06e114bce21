"""The canonical reply episodes of one conversation, from its timeline. Pure: no ORM, no clock.

rules.md §2.1: a clock starts at the earliest inbound buyer message that has no reply yet and stops
at the first delivered human reply (or an agent's "no reply needed"); the next buyer message after
that starts a new one. Everything else (automatic messages either way, bounces, system messages)
is not in the timeline at all: `sla.rules` decides what enters it.

This walk is what `manage.py sla_replay` and the out-of-order path of `sla_on_message` compute;
the in-order fast path of `sla_on_message` is the same walk done one step at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

START = "start"
REPLY = "reply"
NO_REPLY = "no_reply"

# At the same instant a buyer message sorts before a reply: the reply answers it (as in
# inbox.services, where a buyer message starts a wait only when it is later than the last reply).
_ORDER = {START: 0, REPLY: 1, NO_REPLY: 1}


@dataclass(frozen=True)
class Step:
    kind: str  # START | REPLY | NO_REPLY
    at: datetime
    seq: int  # message id (or event id): a stable tie-break
    message_id: int | None = None
    actor_id: int | None = None  # reply author / who decided "no reply needed"
    reason: str = ""

    def sort_key(self) -> tuple:
        return (self.at, _ORDER[self.kind], self.seq)


@dataclass(frozen=True)
class Episode:
    start: Step
    stop: Step | None  # None: still waiting


def episodes_from_steps(steps: Iterable[Step]) -> list[Episode]:
    """Fold a conversation's timeline into its reply episodes, oldest first. # rules.md §2.1"""
    result: list[Episode] = []
    start: Step | None = None
    for step in sorted(steps, key=Step.sort_key):
        if step.kind == START:
            if start is None:
                start = step  # a later buyer message while waiting changes nothing: the earliest counts
        elif start is not None:
            result.append(Episode(start=start, stop=step))
            start = None
        # A reply (or "no reply needed") with nobody waiting stops nothing.
    if start is not None:
        result.append(Episode(start=start, stop=None))
    return result
