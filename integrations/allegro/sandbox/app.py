"""The sandbox's WSGI application: Allegro's REST resources, its OAuth server, and the control API.

Every request goes through `SandboxApp.__call__`: route matching (werkzeug), request counting,
fault injection, then per kind:

* Allegro resources: bearer token (401) -> per-client rate limit (429) -> user context and scope
  (403) -> `Accept` media type (406) -> per-user message-post limit (429) -> the handler. A route
  with an announced beta.v1 version (`Route.beta`, the 2026 /messaging; see beta_messaging.py)
  serves that version when `Accept` asks for beta.v1, and public.v1 otherwise.
* OAuth (`/auth/oauth/*`) and the HTML pages: their handlers in `auth.py`.
* Control API (`/_sandbox/*`): no auth, not counted, never faulted; JSON in and out.

Two kinds of fault are injected on purpose: `/_sandbox/faults` (a status, delay, dropped connection
or a whole custom body) and `/_sandbox/malformed` (a malformed entry planted into an otherwise real
2xx answer, e.g. a thread without an id or a message that is a string; issue #9). Both make answers
that do NOT match Allegro's OpenAPI file: they carry the header `X-Sandbox-Fault` and are exempt
from the contract validation (tests/integrations/allegro/test_sandbox_contract.py plants none).

Handlers run while holding the state's lock, so each request sees and leaves a consistent state.
Every response carries a `trace-id` header.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import auth, beta_messaging, render
from .errors import ApiError, ControlError, OAuthError, validation_error
from .state import (
    CHAT_ROLES,
    ISSUE_STATUSES,
    MAX_ATTACHMENT_SIZE,
    ORDER_EVENT_ID_BASE,
    ORDER_EVENT_TYPES,
    ORDER_STATUSES,
    POST_PURCHASE,
    SandboxState,
    iso,
    parse_iso,
)
from .web import BETA_V1, JSON, MEDIA_TYPES, Ctx, Reply, accepted_types

log = logging.getLogger("integrations.allegro.sandbox")

PROFILE = "allegro:api:profile:read"
MESSAGING = "allegro:api:messaging"
DISPUTES = "allegro:api:disputes"
ORDERS = "allegro:api:orders:read"


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # in the spec's notation: /messaging/threads/{threadId}
    handler: Callable[..., Any]
    kind: str  # api | auth | page | control
    family: str | None = None  # public | beta (Allegro resources)
    scope: str | None = None
    post_limited: bool = False
    any_accept: bool = False  # binary downloads: the spec's response is */*
    # The announced beta.v1 version of the same operation, served when Accept asks for beta.v1.
    beta: Callable[..., Any] | None = None

    def served(self, request: Request) -> tuple[str, Callable[..., Any]]:
        """(family, handler) this request gets: beta.v1 if the route has it and Accept asks for it."""
        if self.beta is not None and BETA_V1 in accepted_types(request):
            return "beta", self.beta
        return self.family or "public", self.handler


MAX_BODY = 6 * 1024 * 1024  # attachments are at most 5 MB


class _DropConnection(Exception):
    pass


# --- parameter helpers ----------------------------------------------------------------------------


def _int_param(ctx: Ctx, name: str, default: int, low: int, high: int | None) -> int:
    raw = ctx.request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(
            name, "must be an integer", "invalid_value", details=f"Invalid value: {raw}", value=raw
        ) from None
    if value < low:
        raise validation_error(
            name, f"must be greater than or equal to {low}", "min", details=f"Invalid value: {raw}", min=low
        )
    if high is not None and value > high:
        raise validation_error(
            name, f"must be less than or equal to {high}", "max", details=f"Invalid value: {raw}", max=high
        )
    return value


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


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _download(att: Any) -> Reply:
    ascii_name = att.file_name.encode("ascii", "replace").decode().replace('"', "")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(att.file_name)}"
    return Reply(200, att.data, att.mime_type, {"Content-Disposition": disposition})


# --- Allegro resources ----------------------------------------------------------------------------


def me(ctx: Ctx) -> Reply:
    return Reply(200, render.me(ctx.state.get_seller(ctx.seller)))


def list_threads(ctx: Ctx) -> Reply:
    limit = _int_param(ctx, "limit", 20, 1, 20)
    offset = _int_param(ctx, "offset", 0, 0, 15_000_000)
    threads = ctx.state.seller_threads(ctx.seller)[offset : offset + limit]
    return Reply(
        200, {"threads": [render.thread(ctx.state, t) for t in threads], "offset": offset, "limit": limit}
    )


def get_thread(ctx: Ctx, threadId: str) -> Reply:
    return Reply(200, render.thread(ctx.state, ctx.state.thread_of_seller(ctx.seller, threadId)))


def read_thread(ctx: Ctx, threadId: str) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    read = body.get("read")
    if read is None:
        raise validation_error("read", "must not be null", "not_null", details="Invalid value: null")
    if not isinstance(read, bool):
        raise validation_error(
            "read", "must be a boolean", "invalid_value", details=f"Invalid value: {read}", value=read
        )
    return Reply(200, render.thread(ctx.state, ctx.state.mark_read(ctx.seller, threadId, read)))


def list_messages(ctx: Ctx, threadId: str) -> Reply:
    limit = _int_param(ctx, "limit", 20, 1, 20)
    offset = _int_param(ctx, "offset", 0, 0, 15_000)
    before = _date_param(ctx, "before")
    after = _date_param(ctx, "after")
    if before is not None and offset:
        raise validation_error("before", "cannot be used with offset", "before_with_offset")
    thread = ctx.state.thread_of_seller(ctx.seller, threadId, forbidden=True)
    messages = sorted(thread.visible_messages(), key=lambda m: m.created_at, reverse=True)
    if before is not None:
        messages = [m for m in messages if m.created_at < before]
    if after is not None:
        messages = [m for m in messages if m.created_at > after]
    page = messages[offset : offset + limit]
    return Reply(
        200,
        {
            "messages": [render.message(ctx.state, m, ctx.base_url) for m in page],
            "offset": offset,
            "limit": limit,
        },
    )


def post_in_thread(ctx: Ctx, threadId: str) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    message = ctx.state.seller_reply(ctx.seller, threadId, body)
    return Reply(201, render.message(ctx.state, message, ctx.base_url))


def post_message(ctx: Ctx) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    message = ctx.state.seller_new_message(ctx.seller, body)
    return Reply(201, render.message(ctx.state, message, ctx.base_url))


def get_message(ctx: Ctx, messageId: str) -> Reply:
    return Reply(
        200, render.message(ctx.state, ctx.state.message_of_seller(ctx.seller, messageId), ctx.base_url)
    )


def delete_message(ctx: Ctx, messageId: str) -> Reply:
    ctx.state.delete_message(ctx.seller, messageId)
    return Reply(204, b"", None)


def _declaration(body: dict[str, Any], name_key: str, min_size: int) -> tuple[str, int]:
    name = body.get(name_key)
    if not isinstance(name, str) or not name.strip():
        raise validation_error(name_key, "must not be blank", "not_blank")
    size = body.get("size")
    if size is None:
        raise validation_error("size", "must not be null", "not_null", details="Invalid value: null")
    if not isinstance(size, int) or isinstance(size, bool):
        raise validation_error("size", "must be an integer", "invalid_value", value=size)
    if size < min_size:
        raise validation_error("size", f"must be greater than or equal to {min_size}", "min", min=min_size)
    if size > MAX_ATTACHMENT_SIZE:
        raise validation_error(
            "size", f"must be less than or equal to {MAX_ATTACHMENT_SIZE}", "max", max=MAX_ATTACHMENT_SIZE
        )
    return name, size


def declare_message_attachment(ctx: Ctx) -> Reply:
    name, size = _declaration(ctx.api_json(ctx.media_type or ""), "filename", 0)
    att = ctx.state.declare_attachment("messaging", ctx.seller, name, size)
    return Reply(201, {"id": att.id})


def upload_message_attachment(ctx: Ctx, attachmentId: str) -> Reply:
    att = ctx.state.upload_attachment(
        "messaging", ctx.seller, attachmentId, ctx.request.mimetype, ctx.request.get_data()
    )
    return Reply(200, {"id": att.id})


def download_message_attachment(ctx: Ctx, attachmentId: str) -> Reply:
    return _download(ctx.state.readable_attachment("messaging", ctx.seller, attachmentId))


def list_issues(ctx: Ctx) -> Reply:
    limit = _int_param(ctx, "limit", 10, 1, 100)
    offset = _int_param(ctx, "offset", 0, 0, 2**31 - 1)
    statuses = ctx.request.args.getlist("status")
    for status in statuses:
        if status not in ISSUE_STATUSES:
            raise validation_error(
                "status",
                f"must be one of {', '.join(ISSUE_STATUSES)}",
                "invalid_value",
                details=f"Invalid value: {status}",
                value=status,
            )
    checkout = ctx.request.args.get("checkoutForm.id")
    if checkout is not None and not _is_uuid(checkout):
        raise validation_error("checkoutForm.id", "must be a UUID", "invalid_value", value=checkout)
    issues = [
        i
        for i in ctx.state.seller_issues(ctx.seller)
        if (not statuses or i.status in statuses) and (checkout is None or i.order_id == checkout)
    ]
    page = issues[offset : offset + limit]
    return Reply(200, {"issues": [render.issue(ctx.state, i, ctx.base_url, ctx.lang) for i in page]})


def _issue(ctx: Ctx, issue_id: str) -> Any:
    if not _is_uuid(issue_id):
        raise ApiError(404, details=f"Issue {issue_id} not found")
    return ctx.state.issue_of_seller(ctx.seller, issue_id)


def get_issue(ctx: Ctx, issueId: str) -> Reply:
    return Reply(200, render.issue(ctx.state, _issue(ctx, issueId), ctx.base_url, ctx.lang))


def issue_chat(ctx: Ctx, issueId: str) -> Reply:
    limit = _int_param(ctx, "limit", 10, 1, 100)
    offset = _int_param(ctx, "offset", 0, 0, 2**31 - 1)
    issue = _issue(ctx, issueId)
    chat = list(issue.chat)
    if ctx.state.config.issue_chat_order == "desc":
        chat.reverse()
    page = chat[offset : offset + limit]
    return Reply(200, {"chat": [render.chat_message(ctx.state, c, ctx.base_url) for c in page]})


def issue_message(ctx: Ctx, issueId: str) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    _issue(ctx, issueId)
    msg = ctx.state.seller_issue_message(ctx.seller, issueId, body)
    return Reply(201, render.chat_message(ctx.state, msg, ctx.base_url))


def issue_status(ctx: Ctx, issueId: str) -> Reply:
    body = ctx.api_json(ctx.media_type or "")
    _issue(ctx, issueId)
    ctx.state.change_claim_status(ctx.seller, issueId, body)
    return Reply(200, b"", None)


def declare_issue_attachment(ctx: Ctx) -> Reply:
    name, size = _declaration(ctx.api_json(ctx.media_type or ""), "fileName", 1)
    att = ctx.state.declare_attachment("issues", ctx.seller, name, size)
    return Reply(
        201, {"id": att.id}, headers={"Location": f"{ctx.base_url}/sale/issues/attachments/{att.id}"}
    )


def upload_issue_attachment(ctx: Ctx, attachmentId: str) -> Reply:
    att = ctx.state.upload_attachment(
        "issues", ctx.seller, attachmentId, ctx.request.mimetype, ctx.request.get_data()
    )
    return Reply(200, {"id": att.id})


def download_issue_attachment(ctx: Ctx, attachmentId: str) -> Reply:
    return _download(ctx.state.readable_attachment("issues", ctx.seller, attachmentId))


def sale_quality(ctx: Ctx) -> Reply:
    return Reply(200, render.quality(ctx.state, ctx.state.get_seller(ctx.seller), ctx.lang))


def order_events(ctx: Ctx) -> Reply:
    limit = _int_param(ctx, "limit", 100, 1, 1000)
    raw_from = ctx.request.args.get("from")
    from_seq = 0
    if raw_from:
        if not raw_from.isdigit():
            raise validation_error("from", "must be an event id", "invalid_value", value=raw_from)
        from_seq = int(raw_from) - ORDER_EVENT_ID_BASE
    types = ctx.request.args.getlist("type")
    for t in types:
        if t not in ORDER_EVENT_TYPES:
            raise validation_error(
                "type", f"must be one of {', '.join(ORDER_EVENT_TYPES)}", "invalid_value", value=t
            )
    events = [
        e
        for e in ctx.state.order_events
        if e.seller == ctx.seller and e.seq > from_seq and (not types or e.type in types)
    ][:limit]
    return Reply(200, {"events": [render.order_event(ctx.state, e) for e in events]})


def order_event_stats(ctx: Ctx) -> Reply:
    mine = [e for e in ctx.state.order_events if e.seller == ctx.seller]
    if not mine:
        return Reply(200, {})
    return Reply(200, {"latestEvent": {"id": mine[-1].id, "occurredAt": iso(mine[-1].occurred_at)}})


def checkout_forms(ctx: Ctx) -> Reply:
    limit = _int_param(ctx, "limit", 100, 1, 100)
    offset = _int_param(ctx, "offset", 0, 0, None)
    status = ctx.request.args.get("status")
    if status is not None and status not in ORDER_STATUSES:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid status: {status}",
            path="status",
            user="invalid_value",
            user_params={"value": status},
        )
    login = ctx.request.args.get("buyer.login")
    orders = [
        o
        for o in ctx.state.orders.values()
        if o.seller == ctx.seller
        and (status is None or o.status == status)
        and (login is None or o.buyer == login)
    ]
    orders.sort(key=lambda o: (o.created_at, o.id), reverse=True)
    page = orders[offset : offset + limit]
    return Reply(
        200,
        {
            "checkoutForms": [render.checkout_form(ctx.state, o) for o in page],
            "count": len(page),
            "totalCount": len(orders),
        },
    )


def checkout_form(ctx: Ctx, id: str) -> Reply:
    if id not in ctx.state.orders and not _is_uuid(id):
        raise validation_error("id", "malformed UUID", "invalid_value", value=id)
    return Reply(200, render.checkout_form(ctx.state, ctx.state.order_for_seller(ctx.seller, id)))


# --- control API ----------------------------------------------------------------------------------


def _str(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ControlError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ControlError(f"{key} must be a string")
    return value


def _when(body: dict[str, Any], key: str) -> datetime | None:
    raw = _str(body, key)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ControlError(f"{key} must be an ISO-8601 date-time") from None


def c_health(ctx: Ctx) -> Reply:
    return Reply(200, {"status": "ok", "now": iso(ctx.state.now())})


def c_state(ctx: Ctx) -> Reply:
    return Reply(200, ctx.state.summary())


def c_reset(ctx: Ctx) -> Reply:
    ctx.state.reset()
    return Reply(200, {"ok": True})


def c_config(ctx: Ctx) -> Reply:
    if ctx.request.method == "POST":
        ctx.state.config.update(ctx.control_json())
    return Reply(200, ctx.state.config.as_dict())


def c_clock(ctx: Ctx) -> Reply:
    if ctx.request.method == "POST":
        body = ctx.control_json()
        advance = body.get("advance", 0)
        if not isinstance(advance, int | float) or isinstance(advance, bool):
            raise ControlError("advance must be a number of seconds")
        ctx.state.advance(float(advance))
    return Reply(200, {"now": iso(ctx.state.now()), "offsetSeconds": ctx.state.clock_offset})


def c_buyer_message(ctx: Ctx) -> Reply:
    body = ctx.control_json()
    attachments = body.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise ControlError("attachments must be a list")
    thread, message = ctx.state.buyer_writes(
        _str(body, "buyer", required=True) or "",
        body.get("text"),  # type: ignore[arg-type]
        seller=_str(body, "seller"),
        order_id=_str(body, "orderId"),
        offer_id=_str(body, "offerId"),
        type=_str(body, "type"),
        subject=_str(body, "subject"),
        attachments=attachments,
        status=_str(body, "status") or "DELIVERED",
        created_at=_when(body, "createdAt"),
    )
    return Reply(
        201,
        {
            "threadId": thread.id,
            "seller": thread.seller,
            "buyer": thread.buyer,
            "message": render.message(ctx.state, message, ctx.base_url),
        },
    )


def c_message_status(ctx: Ctx, messageId: str) -> Reply:
    message = ctx.state.set_message_status(messageId, _str(ctx.control_json(), "status", required=True) or "")
    return Reply(200, {"message": render.message(ctx.state, message, ctx.base_url)})


def c_bulk(ctx: Ctx) -> Reply:
    body = ctx.control_json()
    threads, per_thread = body.get("threads", 100), body.get("messagesPerThread", 1)
    if not isinstance(threads, int) or not isinstance(per_thread, int):
        raise ControlError("threads and messagesPerThread must be integers")
    started = time.perf_counter()
    ids = ctx.state.bulk(threads, per_thread, _str(body, "seller"))
    out: dict[str, Any] = {
        "seller": ctx.state.get_seller(_str(body, "seller")).login,
        "threads": len(ids),
        "messages": len(ids) * per_thread,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if len(ids) <= 10_000:
        out["threadIds"] = ids
    return Reply(201, out)


def c_threads(ctx: Ctx) -> Reply:
    seller = ctx.request.args.get("seller") or ctx.state.config.default_seller
    threads = ctx.state.seller_threads(seller)
    return Reply(
        200,
        {
            "threads": [
                {**render.thread(ctx.state, t), "seller": t.seller, "messages": len(t.visible_messages())}
                for t in threads
            ]
        },
    )


def c_faults(ctx: Ctx) -> Reply:
    state = ctx.state
    if ctx.request.method == "DELETE":
        n = len(state.faults)
        state.faults.clear()
        return Reply(200, {"cleared": n})
    if ctx.request.method == "GET":
        return Reply(200, {"faults": [f.as_dict() for f in state.faults]})
    body = ctx.control_json()
    status, count, delay = body.get("status"), body.get("count", 1), body.get("delay", 0)
    if status is not None and not isinstance(status, int):
        raise ControlError("status must be an integer")
    if not isinstance(count, int) or not isinstance(delay, int | float):
        raise ControlError("count must be an integer and delay a number")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict):
        raise ControlError("headers must be an object")
    fault = state.add_fault(
        status=status,
        count=count,
        path=_str(body, "path"),
        method=_str(body, "method"),
        delay=float(delay),
        drop=bool(body.get("drop")),
        expire_tokens=bool(body.get("expireTokens")),
        body=body.get("body"),
        headers={str(k): str(v) for k, v in headers.items()},
    )
    return Reply(201, {"fault": fault.as_dict()})


MALFORMED_HEADER = "X-Sandbox-Fault"


def c_malformed(ctx: Ctx) -> Reply:
    """Plant a malformed payload into the real 2xx answer of one exact path (a deliberate fault).

    POST {"path": "/messaging/threads/T/messages", "method": "GET",
          "append": {"messages": [<anything>]},                 # added to a list of the answer
          "set": {"messages": "oops"},                           # top-level keys replaced
          "patch": {"key": "messages", "match": {"id": "M"}, "set": {"text": "…"}}}  # one entry changed
    GET lists them; DELETE clears them (all, or `?path=` only) — "the payload is fixed".
    """
    state = ctx.state
    if ctx.request.method == "GET":
        return Reply(200, {"malformed": state.malformations})
    if ctx.request.method == "DELETE":
        path = ctx.request.args.get("path")
        before = len(state.malformations)
        state.malformations[:] = [m for m in state.malformations if path and m["path"] != path]
        return Reply(200, {"cleared": before - len(state.malformations)})
    body = ctx.control_json()
    path = _str(body, "path", required=True) or ""
    plant = {
        "path": path.rstrip("/") or "/",
        "method": (_str(body, "method") or "GET").upper(),
        "append": body.get("append") or {},
        "set": body.get("set") or {},
        "patch": body.get("patch"),
        "hits": 0,
    }
    if not isinstance(plant["append"], dict) or not isinstance(plant["set"], dict):
        raise ControlError("append and set must be objects")
    if any(not isinstance(v, list) for v in plant["append"].values()):
        raise ControlError("append must map keys to lists")
    patch = plant["patch"]
    if patch is not None and not (
        isinstance(patch, dict)
        and isinstance(patch.get("match"), dict)
        and isinstance(patch.get("set"), dict)
    ):
        raise ControlError("patch needs key, match and set")
    if not (plant["append"] or plant["set"] or patch):
        raise ControlError("a malformation needs append, set or patch")
    state.malformations.append(plant)
    return Reply(201, {"malformed": plant})


def _apply_malformations(state: SandboxState, method: str, path: str, reply: Reply) -> None:
    if not state.malformations or not 200 <= reply.status < 300 or not isinstance(reply.body, dict):
        return
    for plant in state.malformations:
        if plant["method"] != method or plant["path"] != (path.rstrip("/") or "/"):
            continue
        plant["hits"] += 1
        body = reply.body
        for key, entries in plant["append"].items():
            if isinstance(body.get(key), list):
                body[key] = [*body[key], *entries]
            else:
                body[key] = list(entries)
        body.update(plant["set"])
        patch = plant["patch"]
        if patch and isinstance(body.get(patch.get("key")), list):
            for entry in body[patch["key"]]:
                if isinstance(entry, dict) and all(entry.get(k) == v for k, v in patch["match"].items()):
                    entry.update(patch["set"])
        reply.headers[MALFORMED_HEADER] = "malformed-payload"


def c_sent(ctx: Ctx) -> Reply:
    seller = ctx.request.args.get("seller")
    kind = ctx.request.args.get("kind")
    sent = [
        s for s in ctx.state.sent if (not seller or s["seller"] == seller) and (not kind or s["kind"] == kind)
    ]
    return Reply(200, {"sent": sent})


def c_requests(ctx: Ctx) -> Reply:
    stats = ctx.state.request_stats()
    if ctx.request.args.get("log"):
        stats["log"] = list(ctx.state.request_log)
    return Reply(200, stats)


def c_requests_reset(ctx: Ctx) -> Reply:
    ctx.state.reset_request_counts()
    return Reply(200, {"ok": True})


def _device_dict(dc: Any) -> dict[str, Any]:
    return {
        "userCode": dc.user_code,
        "deviceCode": dc.device_code,
        "clientId": dc.client_id,
        "status": dc.status,
        "seller": dc.seller,
        "scopes": list(dc.scopes),
    }


def c_devices(ctx: Ctx) -> Reply:
    codes = [ctx.state.device_by_user_code(dc.user_code) for dc in ctx.state.device_codes.values()]
    return Reply(200, {"codes": [_device_dict(dc) for dc in codes if dc]})


def c_device_approve(ctx: Ctx) -> Reply:
    body = ctx.control_json()
    dc = ctx.state.decide_device(
        _str(body, "user_code", required=True) or "", approve=True, seller=_str(body, "seller")
    )
    return Reply(200, _device_dict(dc))


def c_device_deny(ctx: Ctx) -> Reply:
    dc = ctx.state.decide_device(_str(ctx.control_json(), "user_code", required=True) or "", approve=False)
    return Reply(200, _device_dict(dc))


def c_tokens(ctx: Ctx) -> Reply:
    body = ctx.control_json()
    client_id = _str(body, "clientId") or ctx.state.config.client_id
    if ctx.state.client_secret(client_id) is None:
        raise ControlError(f"unknown client {client_id!r}")
    scope = _str(body, "scope")
    scopes = tuple(scope.split()) if scope else None
    seller = ctx.state.get_seller(_str(body, "seller")).login
    return Reply(201, ctx.state.issue_tokens(client_id, seller, *(() if scopes is None else (scopes,))))


def c_tokens_expire(ctx: Ctx) -> Reply:
    return Reply(200, {"expired": ctx.state.expire_access_tokens(_str(ctx.control_json(), "seller"))})


def c_tokens_revoke(ctx: Ctx) -> Reply:
    return Reply(200, {"revoked": ctx.state.revoke_tokens(_str(ctx.control_json(), "seller"))})


def _issue_json(ctx: Ctx, issue: Any) -> dict[str, Any]:
    return render.issue(ctx.state, issue, ctx.base_url, ctx.lang)


def c_issues(ctx: Ctx) -> Reply:
    if ctx.request.method == "GET":
        return Reply(200, {"issues": [_issue_json(ctx, i) for i in ctx.state.issues.values()]})
    body = ctx.control_json()
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or quantity < 1:
        raise ControlError("quantity must be a positive integer")
    issue = ctx.state.open_issue(
        buyer=_str(body, "buyer", required=True) or "",
        seller=_str(body, "seller"),
        type=_str(body, "type") or "DISPUTE",
        order_id=_str(body, "orderId"),
        reason=_str(body, "reason"),
        reason_description=_str(body, "reasonDescription"),
        expectations=body.get("expectations"),
        description=_str(body, "description"),
        text=_str(body, "text"),
        right=_str(body, "right"),
        offer_id=_str(body, "offerId"),
        quantity=quantity,
        chat_active=body.get("chatActive", True),
        attachments=body.get("attachments"),
    )
    return Reply(201, {"issue": _issue_json(ctx, issue)})


def c_issue_chat(ctx: Ctx, issueId: str) -> Reply:
    body = ctx.control_json()
    author = _str(body, "author") or "BUYER"
    if author.upper() not in (*CHAT_ROLES, "ALLEGRO_ADVISOR", "ADVISOR"):
        raise ControlError("author must be BUYER, ALLEGRO_ADVISOR, ADMIN, SYSTEM or FULFILLMENT")
    msg = ctx.state.issue_chat(issueId, body.get("text"), author, body.get("attachments"))  # type: ignore[arg-type]
    return Reply(
        201,
        {
            "message": render.chat_message(ctx.state, msg, ctx.base_url),
            "issue": _issue_json(ctx, ctx.state.issues[issueId]),
        },
    )


def c_issue_state(ctx: Ctx, issueId: str) -> Reply:
    try:
        issue = ctx.state.set_issue_state(issueId, ctx.control_json())
    except ValueError as exc:
        raise ControlError(f"bad date-time: {exc}") from None
    return Reply(200, {"issue": _issue_json(ctx, issue)})


def c_issue_convert(ctx: Ctx, issueId: str) -> Reply:
    body = ctx.control_json()
    issue = ctx.state.convert_issue(
        issueId,
        reason=_str(body, "reason"),
        expectations=body.get("expectations"),
        right=_str(body, "right"),
        description=_str(body, "description"),
    )
    return Reply(200, {"issue": _issue_json(ctx, issue)})


def c_orders(ctx: Ctx) -> Reply:
    body = ctx.control_json()
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or quantity < 1:
        raise ControlError("quantity must be a positive integer")
    events = body.get("events")
    if events is not None and not (isinstance(events, list) and all(e in ORDER_EVENT_TYPES for e in events)):
        raise ControlError(f"events must be a list of {', '.join(ORDER_EVENT_TYPES)}")
    order = ctx.state.create_order(
        seller=_str(body, "seller"),
        buyer=_str(body, "buyer", required=True) or "",
        order_id=_str(body, "orderId"),
        offer_id=_str(body, "offerId"),
        product=_str(body, "product"),
        quantity=quantity,
        price=_str(body, "price"),
        status=_str(body, "status") or "READY_FOR_PROCESSING",
        fulfillment_status=_str(body, "fulfillmentStatus"),
        created_at=_when(body, "createdAt"),
        invoice_required=bool(body.get("invoiceRequired")),
        message_to_seller=_str(body, "messageToSeller"),
        events=events,
    )
    events_json = [render.order_event(ctx.state, e) for e in ctx.state.order_events if e.order_id == order.id]
    return Reply(201, {"order": render.checkout_form(ctx.state, order), "events": events_json})


def c_order_event(ctx: Ctx, orderId: str) -> Reply:
    event = ctx.state.add_order_event(orderId, _str(ctx.control_json(), "type", required=True) or "")
    return Reply(201, {"event": render.order_event(ctx.state, event)})


def _post_purchase_json(ctx: Ctx, thread: Any) -> dict[str, Any]:
    return {
        **beta_messaging.thread(ctx.state, thread),
        "seller": thread.seller,
        "messages": [beta_messaging.message(ctx.state, m, ctx.base_url) for m in thread.visible_messages()],
    }


def c_post_purchase_threads(ctx: Ctx) -> Reply:
    """GET: the seller's POST_PURCHASE_ISSUE threads; POST {buyer, text, orderId?, subType?, seller?,
    createdAt?}: a buyer reports a problem ("Problemy z zakupem"), which opens a new thread."""
    if ctx.request.method == "GET":
        seller = ctx.request.args.get("seller") or ctx.state.config.default_seller
        threads = ctx.state.seller_threads(seller, (POST_PURCHASE,))
        return Reply(200, {"threads": [_post_purchase_json(ctx, t) for t in threads]})
    body = ctx.control_json()
    thread, message = ctx.state.open_post_purchase_thread(
        buyer=_str(body, "buyer", required=True) or "",
        text=body.get("text"),  # type: ignore[arg-type]
        seller=_str(body, "seller"),
        order_id=_str(body, "orderId"),
        sub_type=_str(body, "subType"),
        created_at=_when(body, "createdAt"),
    )
    return Reply(
        201,
        {
            "threadId": thread.id,
            "thread": _post_purchase_json(ctx, thread),
            "message": beta_messaging.message(ctx.state, message, ctx.base_url),
        },
    )


def c_post_purchase_message(ctx: Ctx, threadId: str) -> Reply:
    """{text, author?: BUYER | ALLEGRO_ADVISOR | ADMIN | SYSTEM, status?, createdAt?}."""
    body = ctx.control_json()
    message = ctx.state.post_purchase_write(
        threadId,
        body.get("text"),  # type: ignore[arg-type]
        _str(body, "author") or "BUYER",
        status=_str(body, "status") or "DELIVERED",
        created_at=_when(body, "createdAt"),
    )
    return Reply(
        201,
        {
            "message": beta_messaging.message(ctx.state, message, ctx.base_url),
            "thread": _post_purchase_json(ctx, ctx.state.threads[threadId]),
        },
    )


def c_simulate(ctx: Ctx) -> Reply:
    steps = ctx.control_json().get("steps", 1)
    if not isinstance(steps, int) or not 1 <= steps <= 10_000:
        raise ControlError("steps must be an integer 1..10000")
    if ctx.simulator is None:
        raise ControlError("no simulator attached", 409)
    return Reply(200, {"steps": [ctx.simulator.step() for _ in range(steps)]})


def home(ctx: Ctx) -> Reply:
    s = ctx.state.summary()
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in s.items() if k != "faults"
    )
    content = (
        f"<p>API i OAuth: <code>{escape(ctx.base_url)}</code></p><table>{rows}</table>"
        f'<p><a href="{ctx.base_url}/skojarz-aplikacje">Powiąż aplikację (device flow)</a> · '
        f'<a href="{ctx.base_url}/_sandbox/requests">Licznik żądań</a> · '
        f'<a href="{ctx.base_url}/_sandbox/sent">Wysłane przez sprzedawców</a></p>'
    )
    return auth.page("Lokalny sandbox Allegro", content)


def _api(
    method: str, template: str, handler: Callable[..., Reply], family: str, scope: str, **kw: Any
) -> Route:
    return Route(method, template, handler, "api", family, scope, **kw)


def _ctl(method: str, template: str, handler: Callable[..., Reply]) -> Route:
    return Route(method, template, handler, "control")


ROUTES: tuple[Route, ...] = (
    _api("GET", "/me", me, "public", PROFILE),
    _api("GET", "/messaging/threads", list_threads, "public", MESSAGING, beta=beta_messaging.list_threads),
    _api(
        "GET",
        "/messaging/threads/{threadId}",
        get_thread,
        "public",
        MESSAGING,
        beta=beta_messaging.get_thread,
    ),
    _api("PUT", "/messaging/threads/{threadId}/read", read_thread, "public", MESSAGING),
    _api(
        "GET",
        "/messaging/threads/{threadId}/messages",
        list_messages,
        "public",
        MESSAGING,
        beta=beta_messaging.list_messages,
    ),
    _api(
        "POST",
        "/messaging/threads/{threadId}/messages",
        post_in_thread,
        "public",
        MESSAGING,
        post_limited=True,
        beta=beta_messaging.post_in_thread,
    ),
    _api("POST", "/messaging/messages", post_message, "public", MESSAGING, post_limited=True),
    _api("GET", "/messaging/messages/{messageId}", get_message, "public", MESSAGING),
    _api("DELETE", "/messaging/messages/{messageId}", delete_message, "public", MESSAGING),
    _api("POST", "/messaging/message-attachments", declare_message_attachment, "public", MESSAGING),
    _api(
        "PUT", "/messaging/message-attachments/{attachmentId}", upload_message_attachment, "public", MESSAGING
    ),
    _api(
        "GET",
        "/messaging/message-attachments/{attachmentId}",
        download_message_attachment,
        "public",
        MESSAGING,
        any_accept=True,
    ),
    _api("GET", "/sale/issues", list_issues, "beta", DISPUTES),
    _api("GET", "/sale/issues/{issueId}", get_issue, "beta", DISPUTES),
    _api("GET", "/sale/issues/{issueId}/chat", issue_chat, "beta", DISPUTES),
    _api("POST", "/sale/issues/{issueId}/message", issue_message, "beta", DISPUTES),
    _api("POST", "/sale/issues/{issueId}/status", issue_status, "beta", DISPUTES),
    _api("POST", "/sale/issues/attachments", declare_issue_attachment, "beta", DISPUTES),
    _api("PUT", "/sale/issues/attachments/{attachmentId}", upload_issue_attachment, "beta", DISPUTES),
    _api(
        "GET",
        "/sale/issues/attachments/{attachmentId}",
        download_issue_attachment,
        "beta",
        DISPUTES,
        any_accept=True,
    ),
    _api("GET", "/sale/quality", sale_quality, "public", PROFILE),
    _api("GET", "/order/events", order_events, "public", ORDERS),
    _api("GET", "/order/event-stats", order_event_stats, "public", ORDERS),
    _api("GET", "/order/checkout-forms", checkout_forms, "public", ORDERS),
    _api("GET", "/order/checkout-forms/{id}", checkout_form, "public", ORDERS),
    Route("POST", "/auth/oauth/device", auth.device, "auth"),
    Route("POST", "/auth/oauth/token", auth.token, "auth"),
    Route("GET", "/auth/oauth/authorize", auth.authorize, "page"),
    Route("POST", "/auth/oauth/authorize", auth.authorize, "page"),
    Route("GET", "/skojarz-aplikacje", auth.link_page, "page"),
    Route("POST", "/skojarz-aplikacje", auth.link_page, "page"),
    Route("GET", "/", home, "page"),
    _ctl("GET", "/_sandbox/health", c_health),
    _ctl("GET", "/_sandbox/state", c_state),
    _ctl("POST", "/_sandbox/reset", c_reset),
    _ctl("GET", "/_sandbox/config", c_config),
    _ctl("POST", "/_sandbox/config", c_config),
    _ctl("GET", "/_sandbox/clock", c_clock),
    _ctl("POST", "/_sandbox/clock", c_clock),
    _ctl("POST", "/_sandbox/messages", c_buyer_message),
    _ctl("POST", "/_sandbox/messages/{messageId}/status", c_message_status),
    _ctl("POST", "/_sandbox/bulk", c_bulk),
    _ctl("GET", "/_sandbox/threads", c_threads),
    _ctl("GET", "/_sandbox/faults", c_faults),
    _ctl("POST", "/_sandbox/faults", c_faults),
    _ctl("DELETE", "/_sandbox/faults", c_faults),
    _ctl("GET", "/_sandbox/malformed", c_malformed),
    _ctl("POST", "/_sandbox/malformed", c_malformed),
    _ctl("DELETE", "/_sandbox/malformed", c_malformed),
    _ctl("GET", "/_sandbox/sent", c_sent),
    _ctl("GET", "/_sandbox/requests", c_requests),
    _ctl("POST", "/_sandbox/requests/reset", c_requests_reset),
    _ctl("GET", "/_sandbox/device", c_devices),
    _ctl("POST", "/_sandbox/device/approve", c_device_approve),
    _ctl("POST", "/_sandbox/device/deny", c_device_deny),
    _ctl("POST", "/_sandbox/tokens", c_tokens),
    _ctl("POST", "/_sandbox/tokens/expire", c_tokens_expire),
    _ctl("POST", "/_sandbox/tokens/revoke", c_tokens_revoke),
    _ctl("GET", "/_sandbox/issues", c_issues),
    _ctl("POST", "/_sandbox/issues", c_issues),
    _ctl("POST", "/_sandbox/issues/{issueId}/chat", c_issue_chat),
    _ctl("POST", "/_sandbox/issues/{issueId}/state", c_issue_state),
    _ctl("POST", "/_sandbox/issues/{issueId}/convert", c_issue_convert),
    _ctl("POST", "/_sandbox/orders", c_orders),
    _ctl("POST", "/_sandbox/orders/{orderId}/events", c_order_event),
    _ctl("GET", "/_sandbox/post-purchase-threads", c_post_purchase_threads),
    _ctl("POST", "/_sandbox/post-purchase-threads", c_post_purchase_threads),
    _ctl("POST", "/_sandbox/post-purchase-threads/{threadId}/messages", c_post_purchase_message),
    _ctl("POST", "/_sandbox/simulate", c_simulate),
)


def _werkzeug_path(template: str) -> str:
    return template.replace("{", "<").replace("}", ">")


class SandboxApp:
    """WSGI callable serving the sandbox from one `SandboxState`."""

    def __init__(self, state: SandboxState, simulator: Any = None):
        self.state = state
        self.simulator = simulator
        self.url_map = Map(
            [Rule(_werkzeug_path(r.template), endpoint=i, methods=[r.method]) for i, r in enumerate(ROUTES)],
            strict_slashes=False,
        )

    # -- WSGI entry --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        trace_id = uuid.uuid4().hex
        try:
            reply, counted_as = self.dispatch(request, trace_id)
        except _DropConnection:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("sandbox fault: connection dropped") from None
        response = self._response(reply, trace_id)
        if counted_as is not None:
            self.state.count_request(request.method, counted_as, request.path, reply.status)
        return response(environ, start_response)

    def _response(self, reply: Reply, trace_id: str) -> Response:
        body = reply.body
        content_type = reply.content_type
        if isinstance(body, dict | list):
            data = json.dumps(body, ensure_ascii=False).encode()
            content_type = content_type or JSON
        elif isinstance(body, str):
            data = body.encode()
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            data = body or b""
        response = Response(data, status=reply.status)
        if content_type and reply.status != 204:
            response.headers["Content-Type"] = content_type
        else:
            del response.headers["Content-Type"]
        for key, value in reply.headers.items():
            response.headers[key] = value
        response.headers["trace-id"] = trace_id
        return response

    # -- dispatch ----------------------------------------------------------------------------------

    def _base_url(self, request: Request) -> str:
        return (self.state.config.public_url or request.host_url).rstrip("/")

    def dispatch(self, request: Request, trace_id: str) -> tuple[Reply, str | None]:
        adapter = self.url_map.bind_to_environ(request.environ)
        route: Route | None = None
        params: dict[str, Any] = {}
        not_allowed = False
        try:
            endpoint, params = adapter.match()
            route = ROUTES[endpoint]
        except MethodNotAllowed:
            not_allowed = True
        except NotFound:
            pass
        ctx = Ctx(request, self.state, trace_id, self._base_url(request), simulator=self.simulator)
        path = request.path
        if (request.content_length or 0) > MAX_BODY:
            error = ApiError(413, details=f"Request body larger than {MAX_BODY} bytes")
            return Reply(413, error.body(ctx.lang), JSON), (None if path.startswith("/_sandbox") else path)
        # Read the body before taking the state lock: a slow client must not stall other requests.
        request.get_data(cache=True)
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            return self._control(ctx, route, params, not_allowed), None

        template = route.template if route else path
        fault = self.state.take_fault(request.method, path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                self.state.count_request(request.method, template, path, 0)
                raise _DropConnection
            if fault.status is not None:
                return self._fault_reply(ctx, route, fault), template

        if route is None:
            status = 405 if not_allowed else 404
            error = ApiError(status, details=f"{request.method} {path}")
            return Reply(status, error.body(ctx.lang), JSON), template
        try:
            with self.state.lock:
                reply = self._api(ctx, route, params) if route.kind == "api" else route.handler(ctx, **params)
                if route.kind == "api":
                    _apply_malformations(self.state, request.method, path, reply)
        except OAuthError as exc:
            media = MEDIA_TYPES.get(route.served(request)[0])
            content_type = (
                media if media and media in accepted_types(request) else "application/json;charset=UTF-8"
            )
            reply = Reply(exc.status, exc.body(), content_type, dict(exc.headers))
        except ApiError as exc:
            reply = self._error_reply(ctx, exc)
        except ControlError as exc:
            reply = Reply(exc.status, {"error": exc.message}, JSON)
        except Exception:
            log.exception("sandbox: unhandled error on %s %s", request.method, path)
            reply = self._error_reply(
                ctx, ApiError(500, details=traceback.format_exc(limit=1).strip()[-300:])
            )
        return reply, template

    def _error_reply(self, ctx: Ctx, exc: ApiError) -> Reply:
        return Reply(exc.status, exc.body(ctx.lang), ctx.media_type or JSON, dict(exc.headers))

    def _api(self, ctx: Ctx, route: Route, params: dict[str, Any]) -> Reply:
        state = self.state
        family, handler = route.served(ctx.request)
        media = MEDIA_TYPES[family]
        ctx.token = state.authenticate(ctx.request.headers.get("Authorization"))
        accepts = accepted_types(ctx.request)
        if media in accepts:
            ctx.media_type = media
        state.check_client_rate(ctx.token.client_id)
        if ctx.token.seller is None:
            raise ApiError(
                403,
                "ACCESS_DENIED",
                "Access is denied: the token has no user context",
                user="no_user_context",
            )
        if route.scope and route.scope not in ctx.token.scopes:
            raise ApiError(
                403,
                "ACCESS_DENIED",
                f"Access is denied: the token lacks the scope {route.scope}",
                user="forbidden",
                metadata={"requiredScope": route.scope},
            )
        if ctx.media_type is None and not route.any_accept:
            raise ApiError(
                406, details=f"Accept: {ctx.request.headers.get('Accept', '')!r}; expected {media!r}"
            )
        if route.post_limited:
            state.check_post_rate(ctx.seller)
        reply = handler(ctx, **params)
        if isinstance(reply.body, dict | list) and reply.content_type is None:
            reply.content_type = media
        return reply

    def _fault_reply(self, ctx: Ctx, route: Route | None, fault: Any) -> Reply:
        status = fault.status
        media = MEDIA_TYPES.get(route.served(ctx.request)[0]) if route and route.kind == "api" else None
        content_type = media if media and media in accepted_types(ctx.request) else JSON
        if fault.body is not None:
            body = fault.body
            if isinstance(body, str):
                content_type = fault.headers.get("Content-Type", "text/html; charset=utf-8")
        elif status == 401:
            token = (ctx.request.headers.get("Authorization") or "").partition(" ")[2]
            body = OAuthError(401, "invalid_token", f"Access token expired: {token}").body()
        elif route is not None and route.kind == "auth" and 400 <= status < 500:
            body = {"error": "invalid_request", "error_description": f"Injected fault {status}"}
        else:
            body = ApiError(status).body(ctx.lang)
        return Reply(status, body, content_type, dict(fault.headers))

    def _control(self, ctx: Ctx, route: Route | None, params: dict[str, Any], not_allowed: bool) -> Reply:
        if route is None or route.kind != "control":
            status = 405 if not_allowed else 404
            return Reply(
                status, {"error": f"no control endpoint {ctx.request.method} {ctx.request.path}"}, JSON
            )
        try:
            with self.state.lock:
                return route.handler(ctx, **params)
        except ControlError as exc:
            return Reply(exc.status, {"error": exc.message}, JSON)
        except ApiError as exc:
            body = exc.body(ctx.lang)["errors"][0]
            return Reply(
                400 if exc.status >= 500 else exc.status, {"error": body["message"], "details": body}, JSON
            )
        except OAuthError as exc:
            return Reply(exc.status, {"error": exc.error, "details": exc.description}, JSON)
        except Exception as exc:
            log.exception("sandbox: control endpoint failed")
            return Reply(500, {"error": f"{type(exc).__name__}: {exc}"}, JSON)
