"""Entities of the sandbox state rendered as the JSON documents of Allegro's official spec."""

from __future__ import annotations

import random
import uuid
import zlib
from datetime import timedelta
from typing import Any

from . import texts
from .state import ChatMessage, Issue, Message, Order, OrderEvent, SandboxState, Seller, Thread, iso

INPOST_METHOD_ID = "1fa56f79-4b6a-4821-a6f2-ca9c16d5c925"
COURIER_METHOD_ID = "7203cb90-864c-4cda-bf08-dc883f0c78ad"


def me(seller: Seller) -> dict[str, Any]:
    return {
        "id": seller.id,
        "login": seller.login,
        "firstName": seller.first_name,
        "lastName": seller.last_name,
        "email": seller.email,
        "baseMarketplace": {"id": "allegro-pl"},
        "company": {"name": seller.company_name, "taxId": seller.tax_id},
        "features": list(seller.features),
    }


def thread(state: SandboxState, t: Thread) -> dict[str, Any]:
    last = t.last_message_at
    return {
        "id": t.id,
        "read": t.read,
        "lastMessageDateTime": iso(last) if last else None,
        "interlocutor": {"login": t.buyer, "avatarUrl": state.get_buyer(t.buyer).avatar_url},
    }


def message(state: SandboxState, m: Message, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "status": m.status,
        "type": m.type,
        "createdAt": iso(m.created_at),
        "thread": {"id": m.thread_id},
        "author": {"login": m.author, "isInterlocutor": m.from_buyer},
        "text": m.text,
        "subject": m.subject,
        "relatesTo": {"offer": {"id": m.offer_id} if m.offer_id else None},
        "hasAdditionalAttachments": False,
        "attachments": [],
    }
    # The spec's MessageOrder is not nullable (MessageOffer is), while captures of the real API show
    # "order": null. Spec-valid by default: the key is left out; `observed_nulls` sends null.
    if m.order_id:
        out["relatesTo"]["order"] = {"id": m.order_id}
    elif state.config.observed_nulls:
        out["relatesTo"]["order"] = None
    for att_id in m.attachments:
        att = state.attachments[att_id]
        out["attachments"].append(
            {
                "fileName": att.file_name,
                "mimeType": att.mime_type,
                "url": f"{base_url}/messaging/message-attachments/{att.id}",
                "status": att.status,
            }
        )
    if m.vin:
        out["additionalInformation"] = {"vin": m.vin}
    return out


def _issue_attachment(state: SandboxState, att_id: str, base_url: str) -> dict[str, Any]:
    att = state.attachments[att_id]
    return {"fileName": att.file_name, "url": f"{base_url}/sale/issues/attachments/{att.id}"}


def chat_message(state: SandboxState, c: ChatMessage, base_url: str) -> dict[str, Any]:
    author: dict[str, Any] = {"role": c.role}
    if c.author and c.role in {"BUYER", "SELLER"}:
        author = {"login": c.author, "role": c.role}
    return {
        "id": c.id,
        "text": c.text,
        "attachments": [_issue_attachment(state, a, base_url) for a in c.attachments],
        "author": author,
        "createdAt": iso(c.created_at),
    }


def _last_message_status(issue: Issue) -> str:
    if not any(c.role == "SELLER" for c in issue.chat):
        return "NEW"
    last = issue.chat[-1].role
    return {"SELLER": "SELLER_REPLIED", "BUYER": "BUYER_REPLIED"}.get(last, "ALLEGRO_ADVISOR_REPLIED")


def issue(state: SandboxState, i: Issue, base_url: str, lang: str) -> dict[str, Any]:
    order = state.orders[i.order_id]
    buyer = state.get_buyer(i.buyer)
    first = i.chat[0]
    claim = i.type == "CLAIM"
    initial_author: dict[str, Any] = (
        {"login": first.author, "role": "BUYER"} if first.role == "BUYER" else {"role": "ADMIN"}
    )
    out = {
        "id": i.id,
        "type": i.type,
        "referenceNumber": i.reference_number if claim else None,
        "decisionDueDate": iso(i.decision_due) if claim and i.decision_due else None,
        "openedDate": iso(i.opened_at),
        "subject": None
        if claim
        else texts.ISSUE_SUBJECTS[i.reason].get(lang, texts.ISSUE_SUBJECTS[i.reason]["en"]),
        "buyer": {"id": buyer.id, "login": buyer.login},
        "checkoutForm": {"id": order.id, "createdAt": iso(order.created_at)},
        "currentState": {
            "status": i.status,
            "statusDueDate": iso(i.status_due) if i.status_due else None,
            "returnRequired": i.return_required if claim else None,
            "chatActive": i.chat_active,
        },
        "chat": {
            "lastMessage": {"status": _last_message_status(i), "createdAt": iso(i.chat[-1].created_at)},
            "messagesCount": len(i.chat),
            "initialMessage": {
                "id": first.id,
                "text": first.text,
                "attachments": [_issue_attachment(state, a, base_url) for a in first.attachments],
                "author": initial_author,
                "createdAt": iso(first.created_at),
            },
        },
        "expectations": [dict(e) for e in i.expectations] if claim else [],
        "description": i.description,
        "offer": {"id": i.offer_id, "quantity": i.quantity} if claim and i.offer_id else None,
        "product": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"allegro-product:{i.offer_id}"))}
        if claim and i.offer_id
        else None,
        "reason": {"type": i.reason, "description": i.reason_description} if claim else None,
        "right": i.right,
        "attachments": [_issue_attachment(state, a, base_url) for a in i.attachments],
    }
    # `right` is "only present for claims"; its enum has no null although it is nullable, so a
    # spec-valid dispute leaves it out (`observed_nulls` sends null as Allegro's own samples do).
    if not claim:
        if state.config.observed_nulls:
            out["right"] = None
        else:
            del out["right"]
    return out


def _rng(*parts: str) -> random.Random:
    return random.Random(zlib.crc32("|".join(parts).encode()))


def _pickup_point(point_id: str, city: str, zip_code: str) -> dict[str, Any]:
    return {
        "id": point_id,
        "name": f"Paczkomat {point_id}",
        "description": "Przy sklepie Żabka",
        "address": {"street": "ul. Handlowa 3", "zipCode": zip_code, "city": city, "countryCode": "PL"},
    }


def checkout_form(state: SandboxState, o: Order) -> dict[str, Any]:
    buyer = state.get_buyer(o.buyer)
    rng = _rng(o.id)
    line_items = [
        {
            "id": li.id,
            "offer": {"id": li.offer_id, "name": li.name, "external": {"id": li.sku}},
            "quantity": li.quantity,
            "originalPrice": {"amount": li.price, "currency": "PLN"},
            "price": {"amount": li.price, "currency": "PLN"},
            "boughtAt": iso(o.created_at),
        }
        for li in o.line_items
    ]
    sent = o.fulfillment_status in {"SENT", "PICKED_UP", "READY_FOR_PICKUP", "RETURNED"}
    delivery: dict[str, Any] = {
        "address": {
            "firstName": buyer.first_name,
            "lastName": buyer.last_name,
            "street": buyer.street,
            "city": buyer.city,
            "zipCode": buyer.zip_code,
            "countryCode": "PL",
            "phoneNumber": buyer.phone,
        },
        "method": {"id": INPOST_METHOD_ID, "name": "Allegro Paczkomaty InPost"}
        if o.pickup_point
        else {"id": COURIER_METHOD_ID, "name": "Allegro Kurier DPD"},
        "cost": {"amount": o.delivery_cost, "currency": "PLN"},
        "time": {
            "from": iso(o.created_at + timedelta(days=1)),
            "to": iso(o.created_at + timedelta(days=3)),
            "dispatch": {"from": iso(o.created_at), "to": iso(o.created_at + timedelta(days=1))},
        },
        "smart": bool(o.pickup_point),
        "calculatedNumberOfPackages": 1,
    }
    if o.pickup_point:
        delivery["pickupPoint"] = _pickup_point(o.pickup_point, buyer.city, buyer.zip_code)
    invoice: dict[str, Any] = {"required": o.invoice_required}
    if o.invoice_required:
        invoice["address"] = {
            "street": buyer.street,
            "city": buyer.city,
            "zipCode": buyer.zip_code,
            "countryCode": "PL",
            "company": {
                "name": rng.choice(texts.COMPANIES),
                "ids": [{"type": "PL_NIP", "value": texts.nip(rng)}],
                "vatPayerStatus": "ACTIVE",
            },
        }
    out: dict[str, Any] = {
        "id": o.id,
        "buyer": {
            "id": buyer.id,
            "email": state.masked_email(o.seller, o.buyer, o.id),
            "login": buyer.login,
            "firstName": buyer.first_name,
            "lastName": buyer.last_name,
            "guest": False,
            "phoneNumber": buyer.phone,
            "preferences": {"language": "pl-PL"},
            "address": {
                "street": buyer.street,
                "city": buyer.city,
                "postCode": buyer.zip_code,
                "countryCode": "PL",
            },
        },
        "payment": {
            "id": o.payment_id,
            "type": "ONLINE",
            "provider": "P24",
            "finishedAt": iso(o.created_at + timedelta(minutes=3)),
            "paidAmount": {"amount": o.total, "currency": "PLN"},
        },
        "status": o.status,
        "fulfillment": {
            "status": o.fulfillment_status,
            "shipmentSummary": {"lineItemsSent": "ALL" if sent else "NONE"},
            "provider": {"id": "SELLER"},
        },
        "delivery": delivery,
        "invoice": invoice,
        "lineItems": line_items,
        "surcharges": [],
        "marketplace": {"id": "allegro-pl"},
        "summary": {"totalToPay": {"amount": o.total, "currency": "PLN"}},
        "updatedAt": iso(o.updated_at),
        "revision": o.revision,
    }
    if o.message_to_seller:
        out["messageToSeller"] = o.message_to_seller
    return out


def order_event(state: SandboxState, e: OrderEvent) -> dict[str, Any]:
    o = state.orders[e.order_id]
    buyer = state.get_buyer(o.buyer)
    seller = state.get_seller(o.seller)
    return {
        "id": e.id,
        "order": {
            "seller": {"id": seller.id},
            "buyer": {
                "id": buyer.id,
                "email": state.masked_email(o.seller, o.buyer, o.id),
                "login": buyer.login,
                "guest": False,
            },
            "lineItems": [
                {
                    "id": li.id,
                    "offer": {"id": li.offer_id, "name": li.name, "external": {"id": li.sku}},
                    "quantity": li.quantity,
                    "originalPrice": {"amount": li.price, "currency": "PLN"},
                    "price": {"amount": li.price, "currency": "PLN"},
                    "boughtAt": iso(o.created_at),
                }
                for li in o.line_items
            ],
            "checkoutForm": {"id": o.id, "revision": o.revision},
            "marketplace": {"id": "allegro-pl"},
        },
        "type": e.type,
        "occurredAt": iso(e.occurred_at),
    }


def _grade(score: int) -> str:
    # Bands after the 2024-08 rework as cited by third parties (allegro-api.md §7, UNVERIFIED).
    if score >= 230:
        return "SUPER"
    if score > 100:
        return "GOOD"
    return "NEUTRAL"


def quality(state: SandboxState, seller: Seller, lang: str) -> dict[str, Any]:
    """30 days of daily sales-quality results (oldest first), deterministic per seller."""
    today = state.now().date()
    rng = _rng("quality", seller.login)
    levels = {code: rng.uniform(0.45, 0.95) for code, *_ in texts.QUALITY_METRICS}
    days = []
    for back in range(29, -1, -1):
        day = today - timedelta(days=back)
        metrics = []
        for code, max_score, name_en, name_pl in texts.QUALITY_METRICS:
            levels[code] = min(1.0, max(0.0, levels[code] + rng.uniform(-0.05, 0.05)))
            metrics.append(
                {
                    "code": code,
                    "name": name_pl if lang == "pl" else name_en,
                    "score": round(levels[code] * max_score),
                    "maxScore": max_score,
                }
            )
        score = sum(m["score"] for m in metrics)
        days.append(
            {
                "resultFor": day.isoformat(),
                "score": score,
                "grade": _grade(score),
                "maxScore": sum(m[1] for m in texts.QUALITY_METRICS),
                "metrics": metrics,
            }
        )
    return {"quality": days}
