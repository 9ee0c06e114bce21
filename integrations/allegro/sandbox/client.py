"""A small client of the sandbox's control API (`/_sandbox/*`), over real HTTP.

Tests get one from the `allegro_sandbox` fixture; scripts (benchmarks, demo seeding) can build one
from a URL. Every method maps to one control endpoint and returns its JSON.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from .web import BETA_V1, PUBLIC_V1


class SandboxControlError(RuntimeError):
    pass


class SandboxClient:
    def __init__(
        self,
        url: str,
        *,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        handle: Any = None,
        timeout: float = 30.0,
    ):
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.handle = handle  # the SandboxHandle when the server runs in this process
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"<SandboxClient {self.url}>"

    @property
    def state(self) -> Any:
        """The in-process SandboxState (white-box access; None when the server runs elsewhere)."""
        return self.handle.state if self.handle is not None else None

    def _call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        response = self._http.request(
            method,
            f"/_sandbox{path}",
            json=json,
            params={k: v for k, v in params.items() if v is not None} or None,
        )
        if response.status_code >= 400:
            raise SandboxControlError(f"{method} /_sandbox{path} -> {response.status_code}: {response.text}")
        return response.json()

    @staticmethod
    def _clean(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    # -- general -----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def summary(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def configure(self, **values: Any) -> dict[str, Any]:
        """Change settings, camelCase as in POST /_sandbox/config (e.g. requestsPerMinute=5)."""
        return self._call("POST", "/config", values)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/config")

    def advance_clock(self, seconds: float) -> str:
        """Move the sandbox's clock forward (token expiry, refresh grace, rate windows)."""
        return self._call("POST", "/clock", {"advance": seconds})["now"]

    def now(self) -> str:
        return self._call("GET", "/clock")["now"]

    # -- buyers and threads ------------------------------------------------------------------------

    def buyer_writes(
        self,
        buyer: str,
        text: str,
        order_id: str | None = None,
        *,
        offer_id: str | None = None,
        seller: str | None = None,
        type: str | None = None,
        subject: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        status: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """A buyer writes to a seller; returns {"threadId", "seller", "buyer", "message"}."""
        return self._call(
            "POST",
            "/messages",
            self._clean(
                {
                    "buyer": buyer,
                    "text": text,
                    "orderId": order_id,
                    "offerId": offer_id,
                    "seller": seller,
                    "type": type,
                    "subject": subject,
                    "attachments": attachments,
                    "status": status,
                    "createdAt": created_at,
                }
            ),
        )

    def set_message_status(self, message_id: str, status: str) -> dict[str, Any]:
        return self._call("POST", f"/messages/{message_id}/status", {"status": status})["message"]

    def bulk(self, threads: int, messages_per_thread: int = 1, seller: str | None = None) -> dict[str, Any]:
        return self._call(
            "POST",
            "/bulk",
            self._clean({"threads": threads, "messagesPerThread": messages_per_thread, "seller": seller}),
        )

    def threads(self, seller: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/threads", seller=seller)["threads"]

    def sent(self, seller: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """What sellers sent; kind: message, postPurchaseMessage, issueMessage or claimStatus."""
        return self._call("GET", "/sent", seller=seller, kind=kind)["sent"]

    # -- faults and counters -----------------------------------------------------------------------

    def inject_fault(
        self,
        status: int | None = None,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        delay: float | None = None,
        drop: bool = False,
        expire_tokens: bool = False,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/faults",
            self._clean(
                {
                    "status": status,
                    "count": count,
                    "path": path,
                    "method": method,
                    "delay": delay,
                    "drop": drop or None,
                    "expireTokens": expire_tokens or None,
                    "body": body,
                    "headers": headers,
                }
            ),
        )["fault"]

    def plant_malformed(
        self,
        path: str,
        *,
        append: dict[str, list[Any]] | None = None,
        set: dict[str, Any] | None = None,
        patch: dict[str, Any] | None = None,
        method: str = "GET",
    ) -> dict[str, Any]:
        """Plant a malformed payload into the real answer of `path` (a fault: off-spec on purpose)."""
        body = self._clean({"path": path, "method": method, "append": append, "set": set, "patch": patch})
        return self._call("POST", "/malformed", body)["malformed"]

    def clear_malformed(self, path: str | None = None) -> int:
        """The planted payload is fixed: answers of `path` (or all) are real again."""
        query = f"?{urlencode({'path': path})}" if path else ""
        return self._call("DELETE", f"/malformed{query}")["cleared"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> int:
        return self._call("DELETE", "/faults")["cleared"]

    def request_counts(self, log: bool = False) -> dict[str, Any]:
        """{"total": n, "counts": {"GET /messaging/threads": n, ...}, "byStatus": {"200": n}}."""
        return self._call("GET", "/requests", log=1 if log else None)

    def count(self, method: str, template: str) -> int:
        return self.request_counts()["counts"].get(f"{method.upper()} {template}", 0)

    def reset_request_counts(self) -> None:
        self._call("POST", "/requests/reset")

    # -- OAuth -------------------------------------------------------------------------------------

    def approve(self, user_code: str, seller: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/device/approve", self._clean({"user_code": user_code, "seller": seller}))

    def deny(self, user_code: str) -> dict[str, Any]:
        return self._call("POST", "/device/deny", {"user_code": user_code})

    def device_codes(self) -> list[dict[str, Any]]:
        return self._call("GET", "/device")["codes"]

    def mint_token(self, seller: str | None = None, scope: str | None = None) -> dict[str, Any]:
        """A token pair for a seller without the device flow (Allegro's token response)."""
        return self._call("POST", "/tokens", self._clean({"seller": seller, "scope": scope}))

    def expire_tokens(self, seller: str | None = None) -> int:
        return self._call("POST", "/tokens/expire", self._clean({"seller": seller}))["expired"]

    def revoke_tokens(self, seller: str | None = None) -> int:
        return self._call("POST", "/tokens/revoke", self._clean({"seller": seller}))["revoked"]

    # -- issues and orders -------------------------------------------------------------------------

    def issue_open(
        self,
        buyer: str,
        type: str = "DISPUTE",
        *,
        order_id: str | None = None,
        seller: str | None = None,
        reason: str | None = None,
        expectations: list[Any] | None = None,
        description: str | None = None,
        text: str | None = None,
        right: str | None = None,
        offer_id: str | None = None,
        chat_active: bool | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Open a DISPUTE or CLAIM; returns the issue as GET /sale/issues/{id} shows it."""
        return self._call(
            "POST",
            "/issues",
            self._clean(
                {
                    "buyer": buyer,
                    "type": type,
                    "orderId": order_id,
                    "seller": seller,
                    "reason": reason,
                    "expectations": expectations,
                    "description": description,
                    "text": text,
                    "right": right,
                    "offerId": offer_id,
                    "chatActive": chat_active,
                    "attachments": attachments,
                }
            ),
        )["issue"]

    def issue_chat(self, issue_id: str, text: str, author: str = "BUYER") -> dict[str, Any]:
        return self._call("POST", f"/issues/{issue_id}/chat", {"text": text, "author": author})["message"]

    def issue_state(self, issue_id: str, **values: Any) -> dict[str, Any]:
        """status=, chatActive=, returnRequired=, statusDueDate=, decisionDueDate=, openedDate=."""
        return self._call("POST", f"/issues/{issue_id}/state", values)["issue"]

    def issue_convert(self, issue_id: str, **values: Any) -> dict[str, Any]:
        return self._call("POST", f"/issues/{issue_id}/convert", values)["issue"]

    def issues(self) -> list[dict[str, Any]]:
        return self._call("GET", "/issues")["issues"]

    def order_create(self, buyer: str, **values: Any) -> dict[str, Any]:
        """Create an order (checkout form) with events; returns {"order", "events"}."""
        return self._call("POST", "/orders", {"buyer": buyer, **values})

    def order_event(self, order_id: str, type: str) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/events", {"type": type})["event"]

    # -- "Problemy z zakupem" (beta.v1 /messaging, 2026; shapes in beta_messaging.py) -------------

    def post_purchase_open(
        self,
        buyer: str,
        text: str,
        *,
        order_id: str | None = None,
        sub_type: str | None = None,
        seller: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """A buyer reports a problem: a new POST_PURCHASE_ISSUE thread.

        Returns {"threadId", "thread", "message"} (thread and message in the beta shape).
        """
        return self._call(
            "POST",
            "/post-purchase-threads",
            self._clean(
                {
                    "buyer": buyer,
                    "text": text,
                    "orderId": order_id,
                    "subType": sub_type,
                    "seller": seller,
                    "createdAt": created_at,
                }
            ),
        )

    def post_purchase_write(
        self,
        thread_id: str,
        text: str,
        author: str = "BUYER",
        *,
        status: str | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """The buyer (or ALLEGRO_ADVISOR / SYSTEM) writes in a post-purchase thread; returns the message."""
        return self._call(
            "POST",
            f"/post-purchase-threads/{thread_id}/messages",
            self._clean({"text": text, "author": author, "status": status, "createdAt": created_at}),
        )["message"]

    def post_purchase_threads(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller's post-purchase threads in the beta shape, each with "seller" and "messages"."""
        return self._call("GET", "/post-purchase-threads", seller=seller)["threads"]

    def simulate(self, steps: int = 1) -> list[dict[str, Any]]:
        return self._call("POST", "/simulate", {"steps": steps})["steps"]

    # -- convenience for calling the Allegro side in tests -----------------------------------------

    def api(self, method: str, path: str, token: str, *, beta: bool = False, **kwargs: Any) -> httpx.Response:
        """Call an Allegro resource with the right Accept/Content-Type headers."""
        media = BETA_V1 if beta else PUBLIC_V1
        headers = {"Authorization": f"Bearer {token}", "Accept": media, **kwargs.pop("headers", {})}
        if "json" in kwargs:
            headers.setdefault("Content-Type", media)
        return self._http.request(method, path, headers=headers, **kwargs)
