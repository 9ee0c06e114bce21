"""The sandbox's buyer simulator and its Polish text material (no HTTP, no database)."""

from __future__ import annotations

import random
import re
import string
import time

from integrations.allegro.sandbox import texts
from integrations.allegro.sandbox.simulator import Simulator
from integrations.allegro.sandbox.state import SandboxState

POLISH = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")


def test_at_least_40_distinct_templates_with_polish_diacritics():
    templates = texts.all_templates()
    assert len(set(templates)) >= 40
    with_diacritics = [t for t in templates if POLISH & set(t)]
    assert len(with_diacritics) >= 0.6 * len(templates)
    used_slots = {field for t in templates for _, field, _, _ in string.Formatter().parse(t) if field}
    rng = random.Random(1)
    values = texts.slots(rng)
    assert used_slots <= set(values)
    for template in templates:  # every slot can be filled
        assert "{" not in texts.fill(template, values)


def test_slots_are_realistic():
    rng = random.Random(3)
    for _ in range(50):
        nip = texts.nip(rng)
        weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
        assert len(nip) == 10 and sum(int(d) * w for d, w in zip(nip, weights, strict=False)) % 11 == int(
            nip[-1]
        )
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-:]{3,20}", login) for login, *_ in texts.BUYERS)
    assert len({p.offer_id for p in texts.PRODUCTS}) == len(texts.PRODUCTS)
    assert all(re.fullmatch(r"\d{11}", p.offer_id) for p in texts.PRODUCTS)


def _run(seed: int, steps: int) -> list[tuple]:
    state = SandboxState(seed=seed, clock=lambda: 1_750_000_000.0)
    sim = Simulator(state, seed=seed)
    return [tuple(sorted(sim.step().items())) for _ in range(steps)]


def test_simulator_is_deterministic_with_a_seed():
    assert _run(42, 80) == _run(42, 80)
    assert _run(42, 80) != _run(43, 80)


def test_simulator_covers_every_kind_of_buyer_message():
    state = SandboxState(seed=5)
    sim = Simulator(state, seed=5)
    results = [sim.step() for _ in range(150)]
    for thread in list(state.threads.values())[:20]:  # the seller answers some threads: buyers thank
        state.seller_reply("SklepTest", thread.id, {"text": "Dzień dobry, już sprawdzamy."})
    results += [sim.step() for _ in range(150)]
    actions = {r["action"] for r in results}
    assert actions >= {
        "question",
        "parcel",
        "return",
        "invoice",
        "complaint",
        "mail",
        "followup",
        "thanks",
        "issue",
        "issue_chat",
    }
    messages = list(state.messages.values())
    assert {m.type for m in messages} == {"ASK_QUESTION", "MESSAGE_CENTER", "MAIL"}
    assert all(m.offer_id for m in messages if m.type == "ASK_QUESTION")
    assert all(m.subject for m in messages if m.type == "MAIL")
    assert all(m.order_id in state.orders for m in messages if m.order_id)  # every order id is a real order
    assert len({m.text for m in messages}) > 0.6 * len(messages)  # varied
    assert any(len(t.messages) > 1 for t in state.threads.values())  # follow-ups land in the same thread
    assert any(i.type == "CLAIM" for i in state.issues.values())
    assert any("faktur" in m.text.lower() for m in messages)


def test_simulator_thread_writes_at_its_rate_and_stops():
    state = SandboxState(seed=9)
    sim = Simulator(state, rate=0.02, seed=9)
    sim.start()
    deadline = time.monotonic() + 5
    while len(state.messages) + len(state.issues) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    sim.stop()
    assert not sim.running
    produced = len(state.messages) + len(state.issues)
    assert produced >= 5
    time.sleep(0.1)
    assert len(state.messages) + len(state.issues) == produced
