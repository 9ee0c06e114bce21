"""The beta.v1 version of `/messaging` (2026): announced shape, UNVERIFIED.

Allegro announced it on 2026-07-29 (allegro/allegro-api #13797), deployed it to its sandbox on
2026-08-26 (#13908) and added the `type` filter and `subType` on 2026-09-15 (#13998). From
2026-10-28 new discussions are "Problemy z zakupem": POST_PURCHASE_ISSUE threads inside
/messaging (allegro-api.md §3). None of it is in the saved spec, so everything below is the
sandbox's reading of the announcements. It is kept in this one module, so it can be corrected
once Allegro publishes the schema. The route handlers in `app.py` serve these functions for the
same paths as public.v1 whenever the request's `Accept` is `application/vnd.allegro.beta.v1+json`.

Announced [DOC]: `page.id` cursor instead of offset/limit; the filters `read` and `type` (COMMON |
POST_PURCHASE_ISSUE); threads carry `subType`, whose values staff listed in #13970. The thread
fields come from a third-party test [3P]. The sandbox chose the rest [SANDBOX]:

    GET /messaging/threads?page.id=<opaque>&read=true|false&type=COMMON|POST_PURCHASE_ISSUE
      -> 200 {"threads": [Thread], "nextPage": {"id": "<opaque>"}}    nextPage is left out on the last page
    Thread {id, type, subType (null for COMMON), status: "OPEN", read, createdAt, lastMessageDateTime,
            participants: [{role: BUYER|SELLER, login}], orders: [{id, offers: [{id, quantity}]}]}
    GET /messaging/threads/{threadId}                      -> 200 Thread
    GET /messaging/threads/{threadId}/messages?page.id=&before=&after=
      -> 200 {"messages": [Message], "nextPage": {"id": "<opaque>"}}  newest first, like public.v1
    POST /messaging/threads/{threadId}/messages {text, attachments?: [{id}]}  -> 201 Message
    Message = public.v1 Message, plus author.role (BUYER | SELLER | ADMIN | SYSTEM); author.login is
              null for Allegro's own roles; relatesTo.order is the thread's order in a post-purchase thread.

[SANDBOX] choices:
* Paging follows Allegro's other cursor resources (e.g. /sale/bundles: `page.id` in, `nextPage.id` out,
  `nextPage` absent on the last page). The cursor is keyset-based (position after the last item), so
  a thread that moves to the top between two pages is skipped in that pass and never repeated.
  Filters are not stored in the cursor; repeat them on every page. The page size is the
  `betaPageSize` setting (default 20). `offset` and `limit` return 422, which catches clients
  that still page the public.v1 way.
* Every thread type is visible in beta.v1. public.v1 keeps seeing only COMMON threads (404 for a
  post-purchase thread and its messages), so a public.v1 client never mixes them in.
* Post-purchase threads are not tied to the buyer/seller pair: each reported problem opens its own
  thread, and the pair's COMMON thread stays apart.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from . import render
from .errors import validation_error
from .state import THREAD_TYPES, Message, SandboxState, Thread, iso, parse_iso
from .web import Ctx, Reply

PAGE_PARAM = "page.id"
LEGACY_PAGING = ("offset", "limit")


# --- shapes ---------------------------------------------------------------------------------------


def thread(state: SandboxState, t: Thread) -> dict[str, Any]:
    last = t.last_message_at
    first = t.created_at or min((m.created_at for m in t.visible_messages()), default=None)
    orders = []
    if t.order_id and t.order_id in state.orders:
        order = state.orders[t.order_id]
        offers = [{"id": li.offer_id, "quantity": li.quantity} for li in order.line_items]
        orders.append({"id": order.id, "offers": offers})
    return {
        "id": t.id,
        "type": t.type,
        "subType": t.sub_type,
        "status": t.status,
        "read": t.read,
        "createdAt": iso(first) if first else None,
        "lastMessageDateTime": iso(last) if last else None,
        "participants": [{"role": "BUYER", "login": t.buyer}, {"role": "SELLER", "login": t.seller}],
        "orders": orders,
    }


def message_role(m: Message) -> str:
    return m.role or ("BUYER" if m.from_buyer else "SELLER")


def message(state: SandboxState, m: Message, base_url: str) -> dict[str, Any]:
    out = render.message(state, m, base_url)
    role = message_role(m)
    out["author"] = {
        "login": m.author if role in {"BUYER", "SELLER"} else None,
        "role": role,
        "isInterlocutor": m.from_buyer,
    }
    return out


# --- cursor paging --------------------------------------------------------------------------------


def _encode(key: tuple[datetime, str]) -> str:
    # Full precision (not Allegro's millisecond `iso`): control-API timestamps may carry microseconds.
    text = f"{key[0].astimezone(UTC).isoformat()}|{key[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(raw: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, _, ident = text.partition("|")
        if not ident:
            raise ValueError(raw)
        return parse_iso(when), ident
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise validation_error(
            PAGE_PARAM, "is not a valid page id", "invalid_value", details=f"Invalid value: {raw}", value=raw
        ) from None


def _reject_legacy_paging(args: MultiDict[str, str]) -> None:
    for name in LEGACY_PAGING:
        if name in args:
            raise validation_error(
                name,
                f"{name} is not supported in beta.v1; use {PAGE_PARAM}",
                "invalid_value",
                details=f"Invalid value: {args[name]}",
                value=args[name],
            )


def _page(ctx: Ctx, items: list[Any], key: Any) -> tuple[list[Any], dict[str, Any]]:
    """One page of `items` (sorted by `key` descending) after the request's page.id; and nextPage."""
    raw = ctx.request.args.get(PAGE_PARAM)
    if raw:
        after = _decode(raw)
        items = [i for i in items if key(i) < after]
    size = ctx.state.config.beta_page_size
    page = items[:size]
    extra = {"nextPage": {"id": _encode(key(page[-1]))}} if len(items) > size else {}
    return page, extra


def _bool_param(ctx: Ctx, name: str) -> bool | None:
    raw = ctx.request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in {"true", "false"}:
        raise validation_error(
            name, "must be true or false", "invalid_value", details=f"Invalid value: {raw}", value=raw
        )
    return raw.lower() == "true"


def _date_param(ctx: Ctx, name: str) -> datetime | None:
    raw = ctx.request.args.get(name)
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise validation_error(
            name, "must be a date-time", "invalid_value", details=f"Invalid value: {raw}", value=raw
        ) from None


# --- handlers (served by app.py for the public.v1 routes when Accept asks for beta.v1) --------------


def list_threads(ctx: Ctx) -> Reply:
    args = ctx.request.args
    _reject_legacy_paging(args)
    types = args.getlist("type")
    for t in types:
        if t not in THREAD_TYPES:
            raise validation_error(
                "type",
                f"must be one of {', '.join(THREAD_TYPES)}",
                "invalid_value",
                details=f"Invalid value: {t}",
                value=t,
            )
    read = _bool_param(ctx, "read")
    threads = ctx.state.seller_threads(ctx.seller, tuple(dict.fromkeys(types)) or THREAD_TYPES)
    if read is not None:
        threads = [t for t in threads if t.read is read]
    page, extra = _page(ctx, threads, lambda t: (t.last_message_at, t.id))
    return Reply(200, {"threads": [thread(ctx.state, t) for t in page], **extra})


def get_thread(ctx: Ctx, threadId: str) -> Reply:
    return Reply(200, thread(ctx.state, ctx.state.thread_of_seller(ctx.seller, threadId, types=THREAD_TYPES)))


def list_messages(ctx: Ctx, threadId: str) -> Reply:
    _reject_legacy_paging(ctx.request.args)
    before = _date_param(ctx, "before")
    after = _date_param(ctx, "after")
    t = ctx.state.thread_of_seller(ctx.seller, threadId, forbidden=True, types=THREAD_TYPES)
    messages = sorted(t.visible_messages(), key=lambda m: (m.created_at, m.id), reverse=True)
    if before is not None:
        messages = [m for m in messages if m.created_at < before]
    if after is not None:
        messages = [m for m in messages if m.created_at > after]
    page, extra = _page(ctx, messages, lambda m: (m.created_at, m.id))
    return Reply(200, {"messages": [message(ctx.state, m, ctx.base_url) for m in page], **extra})


def post_in_thread(ctx: Ctx, threadId: str) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    m = ctx.state.seller_reply(ctx.seller, threadId, body, types=THREAD_TYPES)
    return Reply(201, message(ctx.state, m, ctx.base_url))
