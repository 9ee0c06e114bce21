"""The pure planner and reply check: decisions over event sequences, merging, channel choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.notifications import planner, replycheck
from integrations.notifications.planner import Policy, Prior, Signal

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = Policy(merge_window=timedelta(minutes=30), cap_per_order=2, cap_per_buyer_day=4)


def run(signals, policy=POLICY):
    """Feed signals one by one, as the service does; returns the recorded Priors."""
    prior: list[Prior] = []
    for i, s in enumerate(signals):
        now = T0 + timedelta(minutes=i)
        d = planner.decide(s, prior, policy, now=now)
        prior.append(Prior(s.kind, s.order_id, s.buyer, d.state, now, s.event_id))
    return prior


def sig(kind, order="o1", buyer="kasia", at=0):
    return Signal(kind, order, buyer, T0 + timedelta(minutes=at))


@pytest.mark.parametrize("kind", sorted(planner.MARKETPLACE_SENT))
def test_what_allegro_sends_is_suppressed(kind):
    d = planner.decide(sig(kind), [], POLICY, now=T0)
    assert d.state == planner.SUPPRESSED
    assert d.reason == planner.R_MARKETPLACE


def test_purchase_paid_packed_shipped_plans_only_packed():
    states = [
        p.state
        for p in run(
            [sig("purchase_confirmation"), sig("payment_received"), sig("order_packed"), sig("parcel_status")]
        )
    ]
    assert states == [planner.SUPPRESSED, planner.SUPPRESSED, planner.PLANNED, planner.SUPPRESSED]


def test_a_repeated_trigger_is_suppressed_as_repeat():
    prior = run([sig("order_packed"), sig("order_packed")])
    assert [p.state for p in prior] == [planner.PLANNED, planner.SUPPRESSED]
    assert planner.decide(sig("order_packed"), prior, POLICY, now=T0).reason == planner.R_REPEAT


def sent(kind, order="o1", hours_ago=2):
    return Prior(kind, order, "kasia", planner.SENT, T0 - timedelta(hours=hours_ago))


def test_signals_joining_the_open_batch_are_not_capped():
    # They leave as one message with the first one.
    prior = run([sig("order_packed"), sig("invoice_issued"), sig("return_received")])
    assert [p.state for p in prior] == [planner.PLANNED] * 3


def test_cap_per_order_holds_a_third_message():
    prior = [sent("order_packed", hours_ago=3), sent("invoice_issued", hours_ago=2)]
    d = planner.decide(sig("return_received"), prior, POLICY, now=T0)
    assert (d.state, d.reason) == (planner.HELD, planner.R_CAP_ORDER)


def test_cap_per_order_counts_a_batch_waiting_to_leave():
    waiting = Prior("invoice_issued", "o1", "kasia", planner.PLANNED, T0 - timedelta(hours=1))
    d = planner.decide(sig("return_received"), [sent("order_packed"), waiting], POLICY, now=T0)
    assert d.reason == planner.R_CAP_ORDER


def test_cap_per_buyer_per_day_across_orders():
    prior = [sent("order_packed", order=f"o{i}", hours_ago=2 + i) for i in range(4)]
    d = planner.decide(sig("order_packed", order="o9"), prior, POLICY, now=T0)
    assert (d.state, d.reason) == (planner.HELD, planner.R_CAP_BUYER)
    assert planner.decide(sig("order_packed", order="o9"), prior[:3], POLICY, now=T0).state == planner.PLANNED


def test_cap_per_buyer_counts_only_the_last_day():
    old = [Prior("order_packed", f"o{i}", "kasia", planner.SENT, T0 - timedelta(days=2)) for i in range(4)]
    assert planner.decide(sig("order_packed", order="new"), old, POLICY, now=T0).state == planner.PLANNED


def test_cancellation_known_first_holds_a_later_trigger():
    # Events out of order: the cancellation is read before the seller's "packed".
    prior = run([sig("order_cancelled"), sig("order_packed")])
    assert prior[1].state == planner.HELD
    assert planner.decide(sig("order_packed"), prior[:1], POLICY, now=T0).reason == planner.R_CANCELLED
    # …but the return/refund message still goes.
    assert planner.decide(sig("return_received"), prior[:1], POLICY, now=T0).state == planner.PLANNED


def test_other_buyers_and_orders_do_not_interfere():
    prior = run(
        [
            sig("order_packed", buyer="a"),
            sig("order_packed", buyer="b"),
            sig("order_packed", order="o2", buyer="a"),
        ]
    )
    assert [p.state for p in prior] == [planner.PLANNED] * 3


def test_disabled_policy_sends_nothing():
    d = planner.decide(sig("order_packed"), [], Policy(enabled=False), now=T0)
    assert d.state == planner.SUPPRESSED


# --- merging -------------------------------------------------------------------------------------


def P(kind, buyer, minutes):
    return Prior(kind, "o1", buyer, planner.PLANNED, T0 + timedelta(minutes=minutes))


def test_batch_waits_for_the_window():
    items = [P("order_packed", "kasia", 0)]
    assert planner.batches_due(items, window=timedelta(minutes=30), now=T0 + timedelta(minutes=29)) == []
    due = planner.batches_due(items, window=timedelta(minutes=30), now=T0 + timedelta(minutes=30))
    assert len(due) == 1 and due[0].primary is items[0] and due[0].merged == []


def test_items_within_the_window_merge_into_one_in_a_stable_order():
    items = [P("invoice_issued", "kasia", 0), P("order_packed", "kasia", 20), P("order_packed", "ola", 5)]
    due = planner.batches_due(items, window=timedelta(minutes=30), now=T0 + timedelta(hours=1))
    by_buyer = {b.buyer: b for b in due}
    assert [i.kind for i in by_buyer["kasia"].items] == ["order_packed", "invoice_issued"]
    assert len(by_buyer["ola"].items) == 1


def test_an_item_after_the_window_starts_the_next_batch():
    items = [P("order_packed", "kasia", 0), P("invoice_issued", "kasia", 45)]
    due = planner.batches_due(items, window=timedelta(minutes=30), now=T0 + timedelta(minutes=50))
    assert len(due) == 1 and [i.kind for i in due[0].items] == ["order_packed"]


# --- channel choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "login,allegro,thread,email,mailbox,expected",
    [
        ("kasia", True, True, "", False, planner.ALLEGRO_THREAD),
        ("kasia", True, False, "k@example.com", True, planner.ALLEGRO_NEW),
        ("", True, False, "guest@example.com", True, planner.EMAIL),
        ("", False, False, "guest@example.com", False, planner.NONE),
        ("kasia", False, False, "", False, planner.NONE),
    ],
)
def test_channel_choice(login, allegro, thread, email, mailbox, expected):
    got = planner.choose_channel(
        buyer_login=login,
        has_allegro_account=allegro,
        has_thread=thread,
        buyer_email=email,
        has_mailbox=mailbox,
    )
    assert got == expected


# --- templates -----------------------------------------------------------------------------------


def test_render_fills_variables_and_leaves_unknown_ones():
    text = planner.render(
        "Hi {buyer_name}, order {order_id}: {items}. {unknown} {0.__class__}",
        {
            "buyer_name": "Anna",
            "order_id": "X1",
            "items": "Mug × 1",
            "secret": "no",
        },
    )
    assert text == "Hi Anna, order X1: Mug × 1. {unknown} {0.__class__}"


def test_merge_texts():
    assert planner.merge_texts(["a", " ", "b"], greeting="Hi,", signature="Bye") == "Hi,\n\na\n\nb\n\nBye"


# --- bare template warning -----------------------------------------------------------------------

TEMPLATE = "Dzień dobry, dziękujemy za wiadomość. Odpowiemy najszybciej jak to możliwe. Pozdrawiamy"


def test_unedited_template_warns():
    assert replycheck.template_warning(TEMPLATE, [TEMPLATE], "Czy kurtka jest wodoodporna?")


def test_template_with_a_specific_answer_does_not_warn():
    reply = TEMPLATE + " Tak, kurtka jest wodoodporna (10 000 mm)."
    assert not replycheck.template_warning(reply, [TEMPLATE], "Czy kurtka jest wodoodporna?")


def test_own_text_does_not_warn():
    assert not replycheck.template_warning("Tak, wysyłamy dziś do 15:00.", [TEMPLATE], "Wyślecie dziś?")


def test_warning_can_be_turned_off():
    assert not replycheck.template_warning(TEMPLATE, [TEMPLATE], "?", enabled=False)
