"""The buyer simulator: a background thread that plays Polish buyers writing to sellers.

Each step picks an action — a pre-sale question on an offer, "where is my parcel", a return, an
invoice request, a complaint, an e-mail (MAIL), a follow-up in an unanswered thread, thanks after a
seller's reply, now and then a dispute or claim, or a buyer's message in an open one — and applies
it to the state through the same operations the control API uses. With a seed the sequence of
actions and texts is deterministic (`POST /_sandbox/simulate` runs steps synchronously).
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from . import texts
from .state import Order, SandboxState

log = logging.getLogger("integrations.allegro.sandbox.simulator")

ACTIONS: tuple[tuple[str, int], ...] = (
    ("question", 24),
    ("parcel", 16),
    ("return", 9),
    ("invoice", 9),
    ("complaint", 8),
    ("mail", 5),
    ("followup", 14),
    ("thanks", 8),
    ("issue", 4),
    ("issue_chat", 3),
)


class Simulator:
    def __init__(
        self,
        state: SandboxState,
        *,
        rate: float = 20.0,
        seed: int | None = None,
        sellers: list[str] | None = None,
    ):
        self.state = state
        self.rate = float(rate)
        self.rng = random.Random(seed)
        self.sellers = sellers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.steps = 0

    # -- thread ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="allegro-sandbox-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(max(0.05, self.rate * self.rng.uniform(0.6, 1.4))):
            try:
                result = self.step()
                text = (result.get("text") or "").replace("\n", " ⏎ ")
                log.info("simulated %s from %s: %s", result.get("action"), result.get("buyer"), text[:100])
            except Exception:  # keep simulating whatever happened
                log.exception("simulator step failed")

    # -- steps -------------------------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        with self.state.lock:
            self.steps += 1
            sellers = self.sellers or sorted(self.state.sellers) or [self.state.config.default_seller]
            seller = self.rng.choice(sellers)
            names, weights = zip(*ACTIONS, strict=True)
            action = self.rng.choices(names, weights)[0]
            result = getattr(self, f"_{action}")(seller)
            result.setdefault("action", action)
            result["seller"] = seller
            return result

    def _buyer(self, seller: str, *, prefer_new: float = 0.7) -> tuple[str, str]:
        existing = self.state.buyers_with_threads(seller)
        pool = [b for b in texts.BUYERS if b[0] not in existing]
        if pool and self.rng.random() < prefer_new:
            login, first, _ = self.rng.choice(pool)
        else:
            login, first, _ = self.rng.choice(texts.BUYERS)
        return login, first

    def _order_of(self, seller: str, buyer: str, **kwargs: Any) -> Order:
        mine = [o for o in self.state.orders.values() if o.seller == seller and o.buyer == buyer]
        if mine and self.rng.random() < 0.7:
            return self.rng.choice(sorted(mine, key=lambda o: o.id))
        return self.state.create_order(
            seller=seller, buyer=buyer, offer_id=self.rng.choice(texts.PRODUCTS).offer_id, **kwargs
        )

    def _write(self, seller: str, buyer: str, text: str, **kwargs: Any) -> dict[str, Any]:
        thread, message = self.state.buyer_writes(buyer, text, seller=seller, **kwargs)
        return {
            "buyer": buyer,
            "threadId": thread.id,
            "messageId": message.id,
            "type": message.type,
            "text": text,
        }

    def _question(self, seller: str) -> dict[str, Any]:
        buyer, first = self._buyer(seller)
        product = self.rng.choice(texts.PRODUCTS)
        text = texts.compose(self.rng, "question", product=product, buyer_name=first)
        return self._write(seller, buyer, text, offer_id=product.offer_id, type="ASK_QUESTION")

    def _order_message(self, seller: str, group: str, **order_kwargs: Any) -> dict[str, Any]:
        buyer, first = self._buyer(seller, prefer_new=0.5)
        order = self._order_of(seller, buyer, **order_kwargs)
        product = self.state.product_for_offer(order.line_items[0].offer_id)
        text = texts.compose(self.rng, group, product=product, order_id=order.id, buyer_name=first)
        return self._write(seller, buyer, text, order_id=order.id, type="MESSAGE_CENTER")

    def _parcel(self, seller: str) -> dict[str, Any]:
        return self._order_message(seller, "parcel", fulfillment_status="SENT")

    def _return(self, seller: str) -> dict[str, Any]:
        return self._order_message(seller, "return")

    def _invoice(self, seller: str) -> dict[str, Any]:
        return self._order_message(seller, "invoice", invoice_required=True)

    def _complaint(self, seller: str) -> dict[str, Any]:
        return self._order_message(seller, "complaint", fulfillment_status="PICKED_UP")

    def _mail(self, seller: str) -> dict[str, Any]:
        buyer, first = self._buyer(seller, prefer_new=0.5)
        order = self._order_of(seller, buyer)
        product = self.state.product_for_offer(order.line_items[0].offer_id)
        values = texts.slots(self.rng, product=product, order_id=order.id, buyer_name=first)
        subject, body = self.rng.choice(texts.MAIL_TEMPLATES)
        text = texts.fill(body, values) + f"\n\nPozdrawiam,\n{first}"
        return self._write(
            seller, buyer, text, order_id=order.id, type="MAIL", subject=texts.fill(subject, values)
        )

    def _threads_where_last_from(self, seller: str, *, buyer: bool) -> list[Any]:
        out = []
        for thread in self.state.seller_threads(seller):
            visible = thread.visible_messages()
            if visible and visible[-1].from_buyer == buyer:
                out.append(thread)
        return out

    def _followup(self, seller: str) -> dict[str, Any]:
        candidates = self._threads_where_last_from(seller, buyer=True)
        if not candidates:
            return {**self._question(seller), "action": "question"}
        thread = self.rng.choice(candidates[:50])
        text = texts.compose(self.rng, "followup")
        return self._write(seller, thread.buyer, text, type="MESSAGE_CENTER")

    def _thanks(self, seller: str) -> dict[str, Any]:
        candidates = self._threads_where_last_from(seller, buyer=False)
        if not candidates:
            return {**self._question(seller), "action": "question"}
        thread = self.rng.choice(candidates[:50])
        text = texts.compose(self.rng, "thanks")
        return self._write(seller, thread.buyer, text, type="MESSAGE_CENTER")

    def _issue(self, seller: str) -> dict[str, Any]:
        buyer, _ = self._buyer(seller, prefer_new=0.5)
        order = self._order_of(seller, buyer, fulfillment_status="SENT")
        claim = self.rng.random() < 0.3
        reasons = (
            ("NOT_AS_DESCRIBED", "DEFECT_FOUND_DURING_USE", "ITEM_IS_DAMAGED")
            if claim
            else (
                "DID_NOT_RECEIVE_GOODS_AFTER_PAYMENT",
                "NO_PRODUCT_RECEIVED",
                "RECEIVED_INCOMPLETE_ORDER",
                "PRODUCT_AND_PARCEL_DAMAGED_IN_TRANSIT",
            )
        )
        issue = self.state.open_issue(
            buyer=buyer,
            seller=seller,
            type="CLAIM" if claim else "DISPUTE",
            order_id=order.id,
            reason=self.rng.choice(reasons),
            expectations=[self.rng.choice(("REFUND", "EXCHANGE", "REPAIR"))] if claim else None,
        )
        return {"buyer": buyer, "issueId": issue.id, "type": issue.type, "text": issue.chat[0].text}

    def _issue_chat(self, seller: str) -> dict[str, Any]:
        open_issues = [i for i in self.state.seller_issues(seller) if i.chat_active]
        if not open_issues:
            return {**self._issue(seller), "action": "issue"}
        issue = self.rng.choice(open_issues)
        text = self.rng.choice(texts.ISSUE_BUYER_REPLIES)
        msg = self.state.issue_chat(issue.id, text, "BUYER")
        return {"buyer": issue.buyer, "issueId": issue.id, "messageId": msg.id, "text": text}
