"""In-memory state of the local Allegro sandbox: the data model and every operation on it.

One `SandboxState` holds sellers, buyers, OAuth clients and tokens, message threads, disputes and
claims ("issues"), orders with their event journal, faults to inject, and request counters. All
public methods take the single re-entrant lock `state.lock`, so HTTP handler threads, the buyer
simulator and tests can use the state concurrently. Nothing here touches Django or a database.

Time comes from `state.now()`: the injected clock (default `time.time`) plus an offset that tests
move with `advance()`, so token expiry, the 60 s refresh grace, rate-limit windows and device-flow
polling intervals can be tested without sleeping.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import secrets
import string
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from . import texts
from .errors import ApiError, ControlError, OAuthError, validation_error

DEFAULT_SELLER = "SklepTest"
ALL_SCOPES = (
    "allegro:api:messaging",
    "allegro:api:disputes",
    "allegro:api:profile:read",
    "allegro:api:orders:read",
)
MESSAGE_TYPES = ("ASK_QUESTION", "MAIL", "MESSAGE_CENTER")
MESSAGE_STATUSES = ("VERIFYING", "BLOCKED", "DELIVERED", "INTERACTING", "DISMISSED")
HIDDEN_MESSAGE_STATUSES = {"VERIFYING", "BLOCKED"}  # the seller sees a message once it is delivered
ISSUE_STATUSES = (
    "DISPUTE_ONGOING",
    "DISPUTE_CLOSED",
    "DISPUTE_UNRESOLVED",
    "CLAIM_SUBMITTED",
    "CLAIM_ACCEPTED",
    "CLAIM_REJECTED",
)
ISSUE_REASONS = tuple(texts.ISSUE_SUBJECTS)
EXPECTATIONS = ("REPAIR", "EXCHANGE", "REFUND", "PARTIAL_REFUND")
ISSUE_MESSAGE_TYPES = (
    "REGULAR",
    "END_REQUEST",
    "RETURN_REQUIRED_SELLER_LABEL",
    "RETURN_REQUIRED_CUSTOM",
    "RETURN_NOT_REQUIRED",
)
CLAIM_DECISIONS = (
    "ACCEPTED_REPAIR",
    "ACCEPTED_REFUND",
    "ACCEPTED_EXCHANGE",
    "ACCEPTED_PARTIAL_REFUND",
    "REJECTED_ADDITIONAL_REQUIREMENTS_NOT_COMPLETED",
    "REJECTED_PRODUCT_NOT_RETURNED",
    "REJECTED_PRODUCT_DAMAGED_BY_USER",
    "REJECTED_PRODUCT_CONFORMS_TO_CONTRACT",
    "REJECTED_MINOR_DEFECT",
    "REJECTED_OTHER",
    "REJECTED_CLAIM_WITHDRAWN_BY_BUYER",
)
CHAT_ROLES = ("BUYER", "SELLER", "ADMIN", "SYSTEM", "FULFILLMENT")
# beta.v1 /messaging (2026, "Problemy z zakupem"): announced, UNVERIFIED (allegro-api.md §3; the shapes
# are rendered in beta_messaging.py). public.v1 keeps seeing only COMMON threads.
THREAD_TYPES = ("COMMON", "POST_PURCHASE_ISSUE")
PUBLIC_THREAD_TYPES = ("COMMON",)
POST_PURCHASE = "POST_PURCHASE_ISSUE"
# subType of POST_PURCHASE_ISSUE threads, as Allegro staff listed them (allegro/allegro-api #13970).
POST_PURCHASE_SUBTYPES = (
    "PRODUCT_INCONSISTENT_WITH_THE_OFFER",
    "PRODUCT_ARRIVED_DAMAGED",
    "DEFECT_DETECTED_DURING_USE",
    "NO_PRODUCT_IN_THE_SHIPMENT",
    "MISSING_PRODUCT_ELEMENTS",
    "OTHER",
    "NO_REFUND",
    "SELLER_DOES_NOT_WANT_TO_ACCEPT_RETURN",
    "PROBLEM_WITH_SENDING_PRODUCT_BACK",
    "NO_DOCUMENTATIONS",
)
ORDER_EVENT_TYPES = (
    "BOUGHT",
    "FILLED_IN",
    "READY_FOR_PROCESSING",
    "BUYER_CANCELLED",
    "FULFILLMENT_STATUS_CHANGED",
    "BUYER_MODIFIED",
    "AUTO_CANCELLED",
)
ORDER_STATUSES = ("BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED")
FULFILLMENT_STATUSES = (
    "NEW",
    "PROCESSING",
    "READY_FOR_SHIPMENT",
    "READY_FOR_PICKUP",
    "SENT",
    "PICKED_UP",
    "CANCELLED",
    "SUSPENDED",
    "RETURNED",
)
ATTACHMENT_MIME_TYPES = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
}
MAX_ATTACHMENT_SIZE = 5 * 1024 * 1024
MAX_MESSAGE_TEXT = 2000
MAX_ISSUE_TEXT = 20000
ORDER_EVENT_ID_BASE = 1_700_000_000_000_000
THREAD_ID_ALPHABET = string.ascii_letters + string.digits

# 1x1 transparent PNG and a minimal PDF: the bytes of attachments buyers "send".
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
PLACEHOLDER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


# --- Time helpers ---------------------------------------------------------------------------------


def iso(dt: datetime) -> str:
    """Allegro's timestamp format: UTC with milliseconds, e.g. 2025-06-10T12:12:12.019Z."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _ms(dt: datetime) -> datetime:
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


# --- Configuration --------------------------------------------------------------------------------


@dataclass
class SandboxConfig:
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    # Extra registered clients: {client_id: client_secret}.
    extra_clients: dict[str, str] = field(default_factory=dict)
    default_seller: str = DEFAULT_SELLER
    requests_per_minute: int = 9000  # per client id (allegro-api.md §2)
    rate_block_seconds: float = 60.0
    extend_block: bool = True  # calling while blocked makes the block longer (staff, #3454)
    message_post_interval: float = 1.0  # POST .../messages: 1 request/s per user
    refresh_grace_seconds: float = 60.0  # an old refresh token keeps working this long after first use
    access_token_ttl: int = 43200  # 12 h; expires_in is sent as ttl - 1 (43199) like Allegro
    refresh_token_ttl: int = 90 * 86400  # 3 months
    device_code_ttl: int = 3600
    device_interval: int = 5
    auth_code_ttl: float = 10.0
    auto_approve: bool = False
    auto_approve_delay: float = 1.0
    issue_chat_order: str = "desc"  # sort order of GET /sale/issues/{id}/chat is undocumented
    public_url: str | None = None  # base URL put into verification_uri and attachment URLs
    # Real captures show relatesTo.order = null and disputes with right = null; the spec allows
    # neither (MessageOrder is not nullable, `right`'s enum lacks null), so by default those keys
    # are left out. True sends the nulls as observed.
    observed_nulls: bool = False
    # Page size of the beta.v1 /messaging lists (cursor paging has no `limit`; see beta_messaging.py).
    beta_page_size: int = 20
    seed: int | None = None

    # camelCase names accepted by POST /_sandbox/config
    CONTROL_KEYS = {
        "requestsPerMinute": ("requests_per_minute", int),
        "rateBlockSeconds": ("rate_block_seconds", float),
        "extendBlock": ("extend_block", bool),
        "messagePostInterval": ("message_post_interval", float),
        "refreshGraceSeconds": ("refresh_grace_seconds", float),
        "accessTokenTtl": ("access_token_ttl", int),
        "refreshTokenTtl": ("refresh_token_ttl", int),
        "deviceCodeTtl": ("device_code_ttl", int),
        "deviceInterval": ("device_interval", int),
        "autoApprove": ("auto_approve", bool),
        "autoApproveDelay": ("auto_approve_delay", float),
        "issueChatOrder": ("issue_chat_order", str),
        "publicUrl": ("public_url", str),
        "defaultSeller": ("default_seller", str),
        "observedNulls": ("observed_nulls", bool),
        "betaPageSize": ("beta_page_size", int),
    }

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SandboxConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(options) - names
        if unknown:
            raise TypeError(f"unknown sandbox option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in options.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        out = {camel: getattr(self, attr) for camel, (attr, _) in self.CONTROL_KEYS.items()}
        out["clientId"] = self.client_id
        return out

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.CONTROL_KEYS:
                raise ControlError(
                    f"unknown config key {key!r}; known: {', '.join(sorted(self.CONTROL_KEYS))}"
                )
            attr, kind = self.CONTROL_KEYS[key]
            if (
                value is not None
                and not (kind is float and isinstance(value, int))
                and not isinstance(value, kind)
            ):
                raise ControlError(f"config key {key!r} must be {kind.__name__}")
            if attr == "issue_chat_order" and value not in {"asc", "desc"}:
                raise ControlError("issueChatOrder must be 'asc' or 'desc'")
            if attr == "beta_page_size" and not (isinstance(value, int) and 1 <= value <= 100):
                raise ControlError("betaPageSize must be an integer 1..100")
            setattr(self, attr, kind(value) if value is not None else None)


# --- Data model -----------------------------------------------------------------------------------


@dataclass
class Seller:
    login: str
    id: str
    first_name: str
    last_name: str
    email: str
    company_name: str | None
    tax_id: str | None
    features: list[str] = field(default_factory=list)


@dataclass
class Buyer:
    login: str
    id: str
    first_name: str
    last_name: str
    city: str
    zip_code: str
    street: str
    phone: str

    @property
    def avatar_url(self) -> str:
        digest = hashlib.sha1(self.login.encode()).hexdigest()
        return f"https://a.allegroimg.com/original/{digest[:6]}/{digest[6:30]}/avatar"


@dataclass
class Attachment:
    """A message-center or issue attachment: declared, then uploaded (buyers' come uploaded)."""

    id: str
    family: str  # "messaging" | "issues"
    owner: str | None  # seller login that declared it; None for buyer-sent files
    file_name: str
    mime_type: str
    size: int
    created_at: datetime
    data: bytes | None = None
    status: str = "SAFE"

    @property
    def uploaded(self) -> bool:
        return self.data is not None


@dataclass
class Message:
    id: str
    thread_id: str
    type: str
    status: str
    created_at: datetime
    author: str
    from_buyer: bool
    text: str
    subject: str | None = None
    offer_id: str | None = None
    order_id: str | None = None
    attachments: list[str] = field(default_factory=list)  # attachment ids
    deleted: bool = False
    vin: str | None = None
    # Author role in beta.v1 (BUYER | SELLER | ADMIN | SYSTEM …); None: BUYER or SELLER by from_buyer.
    role: str | None = None

    @property
    def visible(self) -> bool:
        return not self.deleted and self.status not in HIDDEN_MESSAGE_STATUSES


@dataclass
class Thread:
    id: str
    seller: str
    buyer: str
    read: bool = True
    messages: list[Message] = field(default_factory=list)
    # beta.v1 only: COMMON (per user pair) or POST_PURCHASE_ISSUE (one per reported problem).
    type: str = "COMMON"
    sub_type: str | None = None
    status: str = "OPEN"
    order_id: str | None = None
    created_at: datetime | None = None

    def visible_messages(self) -> list[Message]:
        return [m for m in self.messages if m.visible]

    @property
    def last_message_at(self) -> datetime | None:
        visible = self.visible_messages()
        return max(m.created_at for m in visible) if visible else None


@dataclass
class ChatMessage:
    id: str
    text: str
    role: str
    author: str | None
    created_at: datetime
    attachments: list[str] = field(default_factory=list)
    type: str = "REGULAR"


@dataclass
class Issue:
    id: str
    type: str  # DISPUTE | CLAIM
    seller: str
    buyer: str
    order_id: str
    status: str
    opened_at: datetime
    reason: str
    reason_description: str | None = None
    reference_number: str | None = None
    decision_due: datetime | None = None
    status_due: datetime | None = None
    return_required: bool | None = None
    chat_active: bool = True
    expectations: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None
    offer_id: str | None = None
    quantity: int = 1
    right: str | None = None
    attachments: list[str] = field(default_factory=list)
    chat: list[ChatMessage] = field(default_factory=list)


@dataclass
class LineItem:
    id: str
    offer_id: str
    name: str
    quantity: int
    price: str
    sku: str


@dataclass
class Order:
    id: str
    seller: str
    buyer: str
    created_at: datetime
    updated_at: datetime
    line_items: list[LineItem]
    status: str = "READY_FOR_PROCESSING"
    fulfillment_status: str = "NEW"
    payment_id: str = ""
    pickup_point: str | None = None
    delivery_cost: str = "9.99"
    invoice_required: bool = False
    message_to_seller: str | None = None
    revision: str = ""

    @property
    def total(self) -> str:
        cents = sum(round(float(li.price) * 100) * li.quantity for li in self.line_items)
        cents += round(float(self.delivery_cost) * 100)
        return f"{cents / 100:.2f}"


@dataclass
class OrderEvent:
    seq: int
    seller: str
    order_id: str
    type: str
    occurred_at: datetime

    @property
    def id(self) -> str:
        return str(ORDER_EVENT_ID_BASE + self.seq)


@dataclass
class Token:
    value: str
    kind: str  # "access" | "refresh"
    client_id: str
    seller: str | None  # None for client_credentials tokens
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    jti: str
    revoked: bool = False
    first_used_at: float | None = None


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float
    status: str = "pending"  # pending | approved | denied | consumed
    seller: str | None = None
    last_poll: float | None = None  # last poll answered with something other than slow_down


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str | None
    seller: str
    scopes: tuple[str, ...]
    created_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False


@dataclass
class Fault:
    id: int
    remaining: int
    status: int | None = None
    path: str | None = None
    method: str | None = None
    delay: float = 0.0
    drop: bool = False
    expire_tokens: bool = False
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or path.startswith(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remaining": self.remaining,
            "status": self.status,
            "path": self.path,
            "method": self.method,
            "delay": self.delay,
            "drop": self.drop,
            "expireTokens": self.expire_tokens,
            "hits": self.hits,
        }


# --- The state ------------------------------------------------------------------------------------


class SandboxState:
    def __init__(self, *, clock: Callable[[], float] | None = None, **options: Any):
        self.lock = threading.RLock()
        self._clock = clock or time.time
        self._initial_options = dict(options)
        self.config = SandboxConfig.from_options(options)
        self._jwt_key = secrets.token_bytes(32)
        # Seeded once: a reset continues the sequence, so ids never repeat within one server's life
        # (tests that keep synced rows across a reset must not see the same thread id twice).
        self.rng = random.Random(self.config.seed)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything except the client credentials and the start-up options."""
        with self.lock:
            self.config = SandboxConfig.from_options(self._initial_options)
            self._offset = 0.0
            self._last_event: datetime | None = None
            self.sellers: dict[str, Seller] = {}
            self.buyers: dict[str, Buyer] = {}
            self.threads: dict[str, Thread] = {}
            self._thread_by_pair: dict[tuple[str, str], str] = {}
            self.messages: dict[str, Message] = {}
            self.attachments: dict[str, Attachment] = {}
            self.issues: dict[str, Issue] = {}
            self._claim_numbers: Counter[tuple[str, int]] = Counter()
            self.orders: dict[str, Order] = {}
            self.order_events: list[OrderEvent] = []
            self.tokens: dict[str, Token] = {}
            self.device_codes: dict[str, DeviceCode] = {}
            self._device_by_user_code: dict[str, str] = {}
            self.auth_codes: dict[str, AuthCode] = {}
            self.faults: list[Fault] = []
            self._fault_seq = 0
            # Planted malformed payloads (app.c_malformed): deliberately off-spec, marked as faults.
            self.malformations: list[dict[str, Any]] = []
            self.sent: list[dict[str, Any]] = []
            self._rate_windows: dict[str, deque[float]] = {}
            self._blocked_until: dict[str, float] = {}
            self._last_post: dict[str, float] = {}
            self._sorted_cache: dict[tuple[str, tuple[str, ...]], tuple[int, list[Thread]]] = {}
            self._version = 0
            self.reset_request_counts()
            self.get_seller(self.config.default_seller)

    def reset_request_counts(self) -> None:
        with self.lock:
            self.request_counts: Counter[str] = Counter()
            self.status_counts: Counter[str] = Counter()
            self.request_log: deque[dict[str, Any]] = deque(maxlen=2000)

    # -- time and ids ------------------------------------------------------------------------------

    def now_ts(self) -> float:
        return self._clock() + self._offset

    def now(self) -> datetime:
        return _ms(datetime.fromtimestamp(self.now_ts(), UTC))

    @property
    def clock_offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> datetime:
        with self.lock:
            self._offset += seconds
            return self.now()

    def event_time(self) -> datetime:
        """`now()`, but strictly after the previous event, so timestamps order messages."""
        with self.lock:
            now = self.now()
            if self._last_event is not None and now <= self._last_event:
                now = self._last_event + timedelta(milliseconds=1)
            self._last_event = now
            return now

    def _note_time(self, dt: datetime) -> None:
        if self._last_event is None or dt > self._last_event:
            self._last_event = dt

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_thread_id(self) -> str:
        return "".join(self.rng.choice(THREAD_ID_ALPHABET) for _ in range(43))

    def _touch(self) -> None:
        self._version += 1

    # -- clients -----------------------------------------------------------------------------------

    def client_secret(self, client_id: str) -> str | None:
        if client_id == self.config.client_id:
            return self.config.client_secret
        return self.config.extra_clients.get(client_id)

    # -- users -------------------------------------------------------------------------------------

    def get_seller(self, login: str | None = None, *, create: bool = True) -> Seller:
        with self.lock:
            login = login or self.config.default_seller
            seller = self.sellers.get(login)
            if seller is None:
                if not create:
                    raise ControlError(f"unknown seller {login!r}", 404)
                seller = self._make_seller(login)
                self.sellers[login] = seller
            return seller

    def _make_seller(self, login: str) -> Seller:
        if login == DEFAULT_SELLER:
            return Seller(
                login,
                "46968690",
                "Jan",
                "Nowak",
                "sklep.test@example.pl",
                "Sklep Test Jan Nowak",
                "5252674798",
                ["SUPER_SELLER"],
            )
        crc = zlib.crc32(login.encode())
        rng = random.Random(crc)
        first, last = rng.choice(texts.BUYERS)[1:]
        return Seller(
            login,
            str(40_000_000 + crc % 50_000_000),
            first,
            last,
            f"{login.lower().replace(':', '.')}@example.pl",
            f"{login} {last}",
            texts.nip(rng),
            [],
        )

    def get_buyer(self, login: str) -> Buyer:
        with self.lock:
            buyer = self.buyers.get(login)
            if buyer is None:
                crc = zlib.crc32(login.encode())
                rng = random.Random(crc)
                known = {b[0]: b for b in texts.BUYERS}
                first, last = known[login][1:] if login in known else rng.choice(texts.BUYERS)[1:]
                city, _, zip_prefix = rng.choice(texts.CITIES)
                if login.startswith("client:") and login[7:].isdigit():
                    buyer_id = login[7:]
                else:
                    buyer_id = str(10_000_000 + crc % 89_000_000)
                buyer = Buyer(
                    login,
                    buyer_id,
                    first,
                    last,
                    city,
                    f"{zip_prefix}-{rng.randint(1, 999):03d}",
                    rng.choice(texts.STREETS),
                    f"{rng.randint(500, 899)}{rng.randint(0, 999999):06d}",
                )
                self.buyers[login] = buyer
            return buyer

    @staticmethod
    def masked_email(seller: str, buyer: str, order_id: str | None = None) -> str:
        """Allegro masks buyer e-mails: a hash of the seller-buyer pair (+ a transaction id)."""
        digest = hashlib.sha1(f"{seller}|{buyer}".encode()).hexdigest()
        local = "".join(c for c in digest if c.isalnum())[:10]
        if order_id:
            local += "+" + hashlib.sha1(order_id.encode()).hexdigest()[:9]
        return f"{local}@allegromail.pl"

    # -- tokens and OAuth --------------------------------------------------------------------------

    def _jwt(self, claims: dict[str, Any]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._jwt_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(signature)}"

    def issue_tokens(
        self, client_id: str, seller: str | None, scopes: Iterable[str] = ALL_SCOPES, *, refresh: bool = True
    ) -> dict[str, Any]:
        """Mint an access token (and a refresh token) and return Allegro's token response."""
        with self.lock:
            scopes = tuple(scopes)
            now = self.now_ts()
            jti = str(uuid.uuid4())
            seller_obj = self.get_seller(seller) if seller else None
            claims: dict[str, Any] = {
                "scope": list(scopes),
                "allegro_api": True,
                "iss": "https://allegro.pl.sandbox.local",
                "exp": int(now + self.config.access_token_ttl),
                "jti": jti,
                "client_id": client_id,
            }
            if seller_obj:
                claims["user_name"] = seller_obj.id
            access = self._jwt(claims)
            self.tokens[access] = Token(
                access, "access", client_id, seller, scopes, now, now + self.config.access_token_ttl, jti
            )
            response: dict[str, Any] = {
                "access_token": access,
                "token_type": "bearer",
            }
            if refresh and seller:
                refresh_jti = str(uuid.uuid4())
                refresh_value = self._jwt(
                    {
                        **claims,
                        "ati": jti,
                        "jti": refresh_jti,
                        "exp": int(now + self.config.refresh_token_ttl),
                    }
                )
                self.tokens[refresh_value] = Token(
                    refresh_value,
                    "refresh",
                    client_id,
                    seller,
                    scopes,
                    now,
                    now + self.config.refresh_token_ttl,
                    refresh_jti,
                )
                response["refresh_token"] = refresh_value
            response.update(
                {
                    "expires_in": self.config.access_token_ttl - 1,
                    "scope": " ".join(scopes),
                    "allegro_api": True,
                    "jti": jti,
                }
            )
            return response

    def authenticate(self, authorization: str | None) -> Token:
        """Check a bearer token; raise the 401 Allegro sends for missing, expired or bad tokens."""
        if not authorization:
            raise OAuthError(
                401,
                "unauthorized",
                "Full authentication is required to access this resource",
                {"WWW-Authenticate": 'Bearer realm="allegro-api"'},
            )
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise OAuthError(
                401,
                "unauthorized",
                "Full authentication is required to access this resource",
                {"WWW-Authenticate": 'Bearer realm="allegro-api"'},
            )
        with self.lock:
            token = self.tokens.get(value)
            if (
                token is not None
                and token.kind == "access"
                and not token.revoked
                and self.now_ts() < token.expires_at
            ):
                return token
        if value.count(".") != 2:
            description = "Cannot convert access token to JSON"
        else:
            description = f"Access token expired: {value}"
        raise OAuthError(
            401,
            "invalid_token",
            description,
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
        )

    def refresh(self, client_id: str, value: str) -> dict[str, Any]:
        with self.lock:
            token = self.tokens.get(value)
            now = self.now_ts()
            valid = (
                token is not None
                and token.kind == "refresh"
                and token.client_id == client_id
                and not token.revoked
                and now < token.expires_at
                and (
                    token.first_used_at is None
                    or now - token.first_used_at <= self.config.refresh_grace_seconds
                )
            )
            if not valid:
                raise OAuthError(400, "invalid_grant", f"Invalid refresh token: {value}")
            if token.first_used_at is None:
                token.first_used_at = now
            return self.issue_tokens(client_id, token.seller, token.scopes)

    def expire_access_tokens(self, seller: str | None = None) -> int:
        with self.lock:
            now = self.now_ts()
            n = 0
            for token in self.tokens.values():
                if (
                    token.kind == "access"
                    and token.expires_at > now
                    and (seller is None or token.seller == seller)
                ):
                    token.expires_at = now
                    n += 1
            return n

    def revoke_tokens(self, seller: str | None = None) -> int:
        """Revoke access and refresh tokens (what a password change or "log out everywhere" does)."""
        with self.lock:
            n = 0
            for token in self.tokens.values():
                if not token.revoked and (seller is None or token.seller == seller):
                    token.revoked = True
                    n += 1
            return n

    # device flow

    def create_device_code(self, client_id: str, scopes: Iterable[str]) -> DeviceCode:
        with self.lock:
            now = self.now_ts()
            while True:
                user_code = "".join(self.rng.choice(string.ascii_lowercase + string.digits) for _ in range(9))
                device_code = str(self.rng.randint(100_000_000, 999_999_999))
                if user_code not in self._device_by_user_code and device_code not in self.device_codes:
                    break
            dc = DeviceCode(
                device_code, user_code, client_id, tuple(scopes), now, now + self.config.device_code_ttl
            )
            self.device_codes[device_code] = dc
            self._device_by_user_code[user_code] = device_code
            return dc

    def _apply_auto_approve(self, dc: DeviceCode) -> None:
        if (
            dc.status == "pending"
            and self.config.auto_approve
            and self.now_ts() - dc.created_at >= self.config.auto_approve_delay
        ):
            dc.status = "approved"
            dc.seller = self.config.default_seller

    def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        with self.lock:
            device_code = self._device_by_user_code.get(user_code.strip().lower())
            dc = self.device_codes.get(device_code) if device_code else None
            if dc:
                self._apply_auto_approve(dc)
            return dc

    def decide_device(self, user_code: str, *, approve: bool, seller: str | None = None) -> DeviceCode:
        with self.lock:
            dc = self.device_by_user_code(user_code)
            if dc is None or self.now_ts() >= dc.expires_at:
                raise ControlError(f"unknown or expired user_code {user_code!r}", 404)
            if dc.status == "consumed":
                raise ControlError(f"user_code {user_code!r} was already used", 409)
            dc.status = "approved" if approve else "denied"
            dc.seller = self.get_seller(seller).login if approve else None
            return dc

    def poll_device(self, client_id: str, device_code: str) -> dict[str, Any]:
        with self.lock:
            dc = self.device_codes.get(device_code)
            now = self.now_ts()
            if dc is None or dc.client_id != client_id or dc.status == "consumed" or now >= dc.expires_at:
                raise OAuthError(400, "Invalid device code")
            self._apply_auto_approve(dc)
            # The interval is measured from the last poll that was served: a client polling too often
            # gets slow_down, but a steady too-fast poller is still served once per interval.
            if dc.last_poll is not None and now - dc.last_poll < self.config.device_interval:
                raise OAuthError(400, "slow_down")
            dc.last_poll = now
            if dc.status == "denied":
                raise OAuthError(400, "access_denied")
            if dc.status == "pending":
                raise OAuthError(400, "authorization_pending")
            dc.status = "consumed"
            return self.issue_tokens(client_id, dc.seller, dc.scopes)

    # authorization code flow

    def create_auth_code(
        self,
        client_id: str,
        redirect_uri: str | None,
        seller: str,
        scopes: Iterable[str],
        code_challenge: str | None,
        code_challenge_method: str | None,
    ) -> AuthCode:
        with self.lock:
            code = secrets.token_urlsafe(24)
            ac = AuthCode(
                code,
                client_id,
                redirect_uri,
                self.get_seller(seller).login,
                tuple(scopes),
                self.now_ts(),
                code_challenge,
                code_challenge_method,
            )
            self.auth_codes[code] = ac
            return ac

    def exchange_auth_code(
        self,
        client_id: str,
        code: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        *,
        client_authenticated: bool,
    ) -> dict[str, Any]:
        with self.lock:
            ac = self.auth_codes.get(code)
            invalid = OAuthError(400, "invalid_grant", f"Invalid authorization code: {code}")
            if ac is None or ac.used or ac.client_id != client_id:
                raise invalid
            if self.now_ts() - ac.created_at > self.config.auth_code_ttl:
                raise invalid
            if ac.redirect_uri and redirect_uri != ac.redirect_uri:
                raise OAuthError(400, "invalid_grant", "Redirect URI mismatch.")
            if ac.code_challenge:
                if not code_verifier:
                    raise OAuthError(400, "invalid_request", "Code verifier is required")
                if (ac.code_challenge_method or "plain").upper() == "S256":
                    digest = hashlib.sha256(code_verifier.encode()).digest()
                    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                else:
                    computed = code_verifier
                if computed != ac.code_challenge:
                    raise OAuthError(400, "invalid_grant", "Invalid code verifier")
            elif not client_authenticated:
                raise OAuthError(
                    401, "unauthorized", "Full authentication is required to access this resource"
                )
            ac.used = True
            return self.issue_tokens(client_id, ac.seller, ac.scopes)

    # -- rate limits -------------------------------------------------------------------------------

    def check_client_rate(self, client_id: str) -> None:
        """9000 requests/min per client id; going over blocks the client id for a minute."""
        with self.lock:
            now = self.now_ts()
            blocked = self._blocked_until.get(client_id)
            if blocked is not None and now < blocked:
                if self.config.extend_block:
                    self._blocked_until[client_id] = max(blocked, now + self.config.rate_block_seconds)
                raise ApiError(429)
            window = self._rate_windows.setdefault(client_id, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.config.requests_per_minute:
                self._blocked_until[client_id] = now + self.config.rate_block_seconds
                window.clear()
                raise ApiError(429)
            window.append(now)

    def check_post_rate(self, seller: str) -> None:
        """POST /messaging/messages and /messaging/threads/{id}/messages: 1 request/s per user."""
        with self.lock:
            now = self.now_ts()
            last = self._last_post.get(seller)
            if last is not None and now - last < self.config.message_post_interval:
                raise ApiError(429)
            self._last_post[seller] = now

    # -- faults and request counters ---------------------------------------------------------------

    def add_fault(
        self,
        *,
        status: int | None = None,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        expire_tokens: bool = False,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        with self.lock:
            if status is not None and not 100 <= int(status) <= 599:
                raise ControlError("status must be an HTTP status code")
            if count < 1:
                raise ControlError("count must be >= 1")
            if status is None and not (delay or drop or expire_tokens):
                raise ControlError("a fault needs status, delay, drop or expireTokens")
            self._fault_seq += 1
            fault = Fault(
                self._fault_seq,
                int(count),
                int(status) if status is not None else None,
                path,
                method.upper() if method else None,
                float(delay or 0),
                bool(drop),
                bool(expire_tokens),
                body,
                dict(headers or {}),
            )
            self.faults.append(fault)
            return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one hit of the first fault matching the request, returning a snapshot of it."""
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    if fault.expire_tokens:
                        self.expire_access_tokens()
                    return copy.copy(fault)
            return None

    def count_request(self, method: str, template: str, path: str, status: int) -> None:
        with self.lock:
            key = f"{method} {template}"
            self.request_counts[key] += 1
            self.status_counts[str(status)] += 1
            self.request_log.append(
                {"method": method, "path": path, "route": template, "status": status, "at": iso(self.now())}
            )

    def request_stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.request_counts.values()),
                "counts": dict(sorted(self.request_counts.items())),
                "byStatus": dict(sorted(self.status_counts.items())),
            }

    # -- attachments -------------------------------------------------------------------------------

    def declare_attachment(self, family: str, owner: str, file_name: str, size: int) -> Attachment:
        with self.lock:
            ext = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
            mime = ATTACHMENT_MIME_TYPES.get(ext)
            if mime is None:
                # The spec documents 415 for the message-center declaration, 422 for the issues one.
                raise ApiError(
                    415 if family == "messaging" else 422,
                    path="filename" if family == "messaging" else "fileName",
                    details=f"Unsupported file type: {file_name}",
                    user="unsupported_media_type",
                )
            att = Attachment(self.new_uuid(), family, owner, file_name, mime, size, self.now())
            self.attachments[att.id] = att
            return att

    def upload_attachment(
        self, family: str, owner: str, attachment_id: str, content_type: str, data: bytes
    ) -> Attachment:
        with self.lock:
            att = self.attachments.get(attachment_id)
            if att is None or att.family != family or att.owner != owner:
                # /sale/issues/attachments/{id} documents no 404 for PUT: an unknown id is a 422 there.
                status = 404 if family == "messaging" else 422
                raise ApiError(
                    status, details=f"Attachment declaration {attachment_id} not found", user="not_found"
                )
            if content_type not in set(ATTACHMENT_MIME_TYPES.values()):
                raise ApiError(415, details=f"Unsupported content type: {content_type or 'none'}")
            if len(data) > MAX_ATTACHMENT_SIZE or len(data) > att.size:
                raise ApiError(413, details=f"Declared {att.size} bytes, received {len(data)}")
            att.data = data
            att.mime_type = content_type
            return att

    def buyer_attachment(
        self, family: str, file_name: str, data: bytes | None = None, mime_type: str | None = None
    ) -> Attachment:
        with self.lock:
            ext = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ".png"
            mime = mime_type or ATTACHMENT_MIME_TYPES.get(ext, "image/png")
            if data is None:
                data = PLACEHOLDER_PDF if mime == "application/pdf" else PLACEHOLDER_PNG
            att = Attachment(self.new_uuid(), family, None, file_name, mime, len(data), self.now(), data)
            self.attachments[att.id] = att
            return att

    def readable_attachment(self, family: str, seller: str, attachment_id: str) -> Attachment:
        with self.lock:
            att = self.attachments.get(attachment_id)
            if att is None or att.family != family or not att.uploaded:
                raise ApiError(404, details=f"Attachment {attachment_id} not found")
            if att.owner is not None and att.owner != seller:
                raise ApiError(404, details=f"Attachment {attachment_id} not found")
            return att

    def _resolve_seller_attachments(self, family: str, seller: str, items: Any, path: str) -> list[str]:
        if items is None:
            return []
        if not isinstance(items, list):
            raise validation_error(path, "must be an array", "generic")
        ids = []
        for i, item in enumerate(items):
            att_id = item.get("id") if isinstance(item, dict) else None
            att = self.attachments.get(att_id) if isinstance(att_id, str) else None
            if att is None or att.family != family or att.owner != seller:
                raise validation_error(
                    f"{path}[{i}].id", "attachment not found", "generic", details=f"Invalid value: {att_id}"
                )
            if not att.uploaded:
                raise validation_error(
                    f"{path}[{i}].id",
                    "attachment has not been uploaded",
                    "attachment_not_ready",
                    details=f"Invalid value: {att_id}",
                )
            ids.append(att.id)
        return ids

    # -- orders ------------------------------------------------------------------------------------

    def create_order(
        self,
        *,
        seller: str | None = None,
        buyer: str,
        order_id: str | None = None,
        offer_id: str | None = None,
        product: str | None = None,
        quantity: int = 1,
        price: str | None = None,
        status: str = "READY_FOR_PROCESSING",
        fulfillment_status: str | None = None,
        created_at: datetime | None = None,
        invoice_required: bool = False,
        message_to_seller: str | None = None,
        events: Iterable[str] | None = None,
    ) -> Order:
        with self.lock:
            seller_obj = self.get_seller(seller)
            self.get_buyer(buyer)
            if order_id and order_id in self.orders:
                raise ControlError(f"order {order_id} already exists", 409)
            if status not in ORDER_STATUSES:
                raise ControlError(f"status must be one of {', '.join(ORDER_STATUSES)}")
            if fulfillment_status is not None and fulfillment_status not in FULFILLMENT_STATUSES:
                raise ControlError(f"fulfillmentStatus must be one of {', '.join(FULFILLMENT_STATUSES)}")
            catalogue = self.product_for_offer(offer_id) if offer_id else None
            if catalogue is None:
                catalogue = next((p for p in texts.PRODUCTS if p.name == product), None) or self.rng.choice(
                    texts.PRODUCTS
                )
            created = created_at or (
                self.now() - timedelta(days=self.rng.randint(1, 6), minutes=self.rng.randint(0, 600))
            )
            item = LineItem(
                self.new_uuid(),
                offer_id or catalogue.offer_id,
                product or catalogue.name,
                max(1, int(quantity)),
                price or catalogue.price,
                catalogue.sku,
            )
            order = Order(
                id=order_id or self.new_uuid(),
                seller=seller_obj.login,
                buyer=buyer,
                created_at=created,
                updated_at=created,
                line_items=[item],
                status=status,
                fulfillment_status=fulfillment_status
                or self.rng.choice(("NEW", "PROCESSING", "SENT", "SENT")),
                payment_id=self.new_uuid(),
                pickup_point=self.rng.choice(texts.PICKUP_POINTS) if self.rng.random() < 0.6 else None,
                invoice_required=invoice_required,
                message_to_seller=message_to_seller,
                revision=f"{self.rng.getrandbits(32):08x}",
            )
            self.orders[order.id] = order
            if events is None:
                events = {
                    "BOUGHT": ["BOUGHT"],
                    "FILLED_IN": ["BOUGHT", "FILLED_IN"],
                    "READY_FOR_PROCESSING": ["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING"],
                    "CANCELLED": ["BOUGHT", "BUYER_CANCELLED"],
                }[status]
            for i, event_type in enumerate(events):
                self.add_order_event(order.id, event_type, occurred_at=created + timedelta(minutes=2 * i))
            return order

    def ensure_order(self, order_id: str, seller: str, buyer: str) -> Order:
        """The order behind an order id the sandbox hands out (created plausibly if unknown)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                order = self.create_order(seller=seller, buyer=buyer, order_id=order_id)
            return order

    def add_order_event(
        self, order_id: str, event_type: str, *, occurred_at: datetime | None = None
    ) -> OrderEvent:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise ControlError(f"unknown order {order_id}", 404)
            if event_type not in ORDER_EVENT_TYPES:
                raise ControlError(f"type must be one of {', '.join(ORDER_EVENT_TYPES)}")
            event = OrderEvent(
                len(self.order_events) + 1,
                order.seller,
                order.id,
                event_type,
                occurred_at or self.event_time(),
            )
            self.order_events.append(event)
            if occurred_at is None:
                order.updated_at = event.occurred_at
                order.revision = f"{self.rng.getrandbits(32):08x}"
                if event_type in {"BUYER_CANCELLED", "AUTO_CANCELLED"}:
                    order.status = "CANCELLED"
                elif event_type in {"FILLED_IN", "READY_FOR_PROCESSING"}:
                    order.status = event_type
            return event

    @staticmethod
    def product_for_offer(offer_id: str | None) -> texts.Product | None:
        return next((p for p in texts.PRODUCTS if p.offer_id == offer_id), None)

    def order_for_seller(self, seller: str, order_id: str) -> Order:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.seller != seller:
                raise ApiError(404, details=f"Checkout form {order_id} not found")
            return order

    # -- message center ----------------------------------------------------------------------------

    def buyers_with_threads(self, seller: str) -> set[str]:
        with self.lock:
            return {b for (s, b) in self._thread_by_pair if s == seller}

    def thread_for(self, seller: str, buyer: str) -> Thread:
        with self.lock:
            thread_id = self._thread_by_pair.get((seller, buyer))
            if thread_id is None:
                thread = Thread(self._new_thread_id(), seller, buyer)
                self.threads[thread.id] = thread
                self._thread_by_pair[(seller, buyer)] = thread.id
                self._touch()
                return thread
            return self.threads[thread_id]

    def buyer_writes(
        self,
        buyer: str,
        text: str,
        *,
        seller: str | None = None,
        order_id: str | None = None,
        offer_id: str | None = None,
        type: str | None = None,
        subject: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        status: str = "DELIVERED",
        created_at: datetime | None = None,
    ) -> tuple[Thread, Message]:
        with self.lock:
            if not isinstance(text, str) or not text.strip():
                raise ControlError("text must be a non-empty string")
            if not buyer or not isinstance(buyer, str):
                raise ControlError("buyer must be a login")
            msg_type = type or ("ASK_QUESTION" if offer_id and not order_id else "MESSAGE_CENTER")
            if msg_type not in MESSAGE_TYPES:
                raise ControlError(f"type must be one of {', '.join(MESSAGE_TYPES)}")
            if status not in MESSAGE_STATUSES:
                raise ControlError(f"status must be one of {', '.join(MESSAGE_STATUSES)}")
            seller_obj = self.get_seller(seller)
            if buyer == seller_obj.login:
                raise ControlError("buyer and seller must differ")
            self.get_buyer(buyer)
            if order_id:
                order = self.ensure_order(order_id, seller_obj.login, buyer)
                if (order.seller, order.buyer) != (seller_obj.login, buyer):
                    raise ControlError(
                        f"order {order_id} belongs to {order.buyer} buying from {order.seller}"
                    )
            if msg_type == "MAIL" and subject is None:
                subject = "Wiadomość od kupującego"
            att_ids = []
            for item in attachments or []:
                if not isinstance(item, dict) or not item.get("fileName"):
                    raise ControlError("attachments must be objects with fileName")
                data = base64.b64decode(item["contentBase64"]) if item.get("contentBase64") else None
                att_ids.append(
                    self.buyer_attachment("messaging", item["fileName"], data, item.get("mimeType")).id
                )
            thread = self.thread_for(seller_obj.login, buyer)
            when = created_at or self.event_time()
            if created_at is not None:
                self._note_time(created_at)
            message = Message(
                self.new_uuid(),
                thread.id,
                msg_type,
                status,
                when,
                buyer,
                True,
                text,
                subject,
                offer_id,
                order_id,
                att_ids,
            )
            thread.messages.append(message)
            if message.visible:
                thread.read = False
            self.messages[message.id] = message
            self._touch()
            return thread, message

    def set_message_status(self, message_id: str, status: str) -> Message:
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                raise ControlError(f"unknown message {message_id}", 404)
            if status not in MESSAGE_STATUSES:
                raise ControlError(f"status must be one of {', '.join(MESSAGE_STATUSES)}")
            was_visible = message.visible
            message.status = status
            if message.visible and not was_visible and message.from_buyer:
                self.threads[message.thread_id].read = False
            self._touch()
            return message

    def seller_threads(self, seller: str, types: tuple[str, ...] = PUBLIC_THREAD_TYPES) -> list[Thread]:
        """The seller's threads of `types`, newest `lastMessageDateTime` first (cached per state version).

        public.v1 sees only COMMON threads; the beta.v1 version of /messaging sees every type.
        """
        with self.lock:
            key = (seller, tuple(types))
            cached = self._sorted_cache.get(key)
            if cached and cached[0] == self._version:
                return cached[1]
            threads = [
                t
                for t in self.threads.values()
                if t.seller == seller and t.type in types and t.last_message_at is not None
            ]
            threads.sort(key=lambda t: (t.last_message_at, t.id), reverse=True)
            self._sorted_cache[key] = (self._version, threads)
            return threads

    def thread_of_seller(
        self,
        seller: str,
        thread_id: str,
        *,
        forbidden: bool = False,
        types: tuple[str, ...] = PUBLIC_THREAD_TYPES,
    ) -> Thread:
        with self.lock:
            thread = self.threads.get(thread_id)
            if thread is None or thread.last_message_at is None or thread.type not in types:
                raise ApiError(404, details=f"Thread {thread_id} not found")
            if thread.seller != seller:
                if forbidden:
                    raise ApiError(403, details=f"Thread {thread_id} belongs to another user")
                raise ApiError(404, details=f"Thread {thread_id} not found")
            return thread

    def mark_read(self, seller: str, thread_id: str, read: bool) -> Thread:
        with self.lock:
            thread = self.thread_of_seller(seller, thread_id, forbidden=True)
            thread.read = read
            return thread

    def _check_text(self, text: Any, limit: int, path: str = "text") -> str:
        if text is None:
            raise validation_error(path, "must not be null", "not_null", details="Invalid value: null")
        if not isinstance(text, str):
            raise validation_error(path, "must be a string", "generic", details=f"Invalid value: {text!r}")
        if not text.strip():
            raise validation_error(path, "must not be blank", "not_blank")
        if len(text) > limit:
            raise validation_error(
                path,
                f"size must be between 1 and {limit}",
                "size",
                details=f"Invalid value: text of {len(text)} characters",
                min=1,
                max=limit,
            )
        return text

    def _seller_message(
        self, seller: str, thread: Thread, text: str, att_ids: list[str], order_id: str | None
    ) -> Message:
        post_purchase = thread.type == POST_PURCHASE
        message = Message(
            self.new_uuid(),
            thread.id,
            "MESSAGE_CENTER",
            "DELIVERED",
            self.event_time(),
            seller,
            False,
            text,
            None,
            None,
            order_id,
            att_ids,
        )
        thread.messages.append(message)
        thread.read = True
        self.messages[message.id] = message
        self._touch()
        record: dict[str, Any] = {
            "kind": "postPurchaseMessage" if post_purchase else "message",
            "seller": seller,
            "threadId": thread.id,
            "messageId": message.id,
            "recipient": thread.buyer,
            "orderId": thread.order_id if post_purchase else order_id,
            "text": text,
            "createdAt": iso(message.created_at),
            "attachments": [self._attachment_summary(a) for a in att_ids],
        }
        if post_purchase:
            record |= {"threadType": thread.type, "subType": thread.sub_type}
        self.sent.append(record)
        return message

    def _attachment_summary(self, att_id: str) -> dict[str, Any]:
        att = self.attachments[att_id]
        return {
            "id": att.id,
            "fileName": att.file_name,
            "mimeType": att.mime_type,
            "size": len(att.data or b""),
        }

    def seller_reply(
        self,
        seller: str,
        thread_id: str,
        body: dict[str, Any],
        *,
        types: tuple[str, ...] = PUBLIC_THREAD_TYPES,
    ) -> Message:
        with self.lock:
            thread = self.thread_of_seller(seller, thread_id, forbidden=True, types=types)
            text = self._check_text(body.get("text"), MAX_MESSAGE_TEXT)
            att_ids = self._resolve_seller_attachments(
                "messaging", seller, body.get("attachments"), "attachments"
            )
            return self._seller_message(seller, thread, text, att_ids, None)

    def seller_new_message(self, seller: str, body: dict[str, Any]) -> Message:
        with self.lock:
            recipient = body.get("recipient")
            login = recipient.get("login") if isinstance(recipient, dict) else None
            if recipient is None:
                raise validation_error(
                    "recipient", "must not be null", "not_null", details="Invalid value: null"
                )
            if not isinstance(login, str) or not login.strip():
                raise validation_error("recipient.login", "must not be blank", "not_blank")
            text = self._check_text(body.get("text"), MAX_MESSAGE_TEXT)
            order = body.get("order")
            if order is None:
                # Required since 2025-02-28 (allegro-api.md §3; issue #11093).
                raise validation_error("order", "must not be null", "not_null", details="Invalid value: null")
            order_id = order.get("id") if isinstance(order, dict) else None
            if not isinstance(order_id, str) or not order_id.strip():
                raise validation_error("order.id", "must not be blank", "not_blank")
            if login == seller:
                raise validation_error(
                    "recipient.login", "cannot write to yourself", "invalid_value", value=login
                )
            known = self.orders.get(order_id)
            if known is not None and (known.seller != seller or known.buyer != login):
                raise validation_error(
                    "order.id", "order does not belong to this conversation", "invalid_value", value=order_id
                )
            att_ids = self._resolve_seller_attachments(
                "messaging", seller, body.get("attachments"), "attachments"
            )
            self.get_buyer(login)
            self.ensure_order(order_id, seller, login)
            thread = self.thread_for(seller, login)
            return self._seller_message(seller, thread, text, att_ids, order_id)

    def message_of_seller(self, seller: str, message_id: str) -> Message:
        with self.lock:
            message = self.messages.get(message_id)
            thread = self.threads[message.thread_id] if message is not None else None
            if (
                message is None
                or thread is None
                or not message.visible
                or thread.seller != seller
                or thread.type not in PUBLIC_THREAD_TYPES
            ):
                raise ApiError(404, details=f"Message {message_id} not found")
            return message

    def delete_message(self, seller: str, message_id: str) -> None:
        with self.lock:
            message = self.message_of_seller(seller, message_id)
            if message.from_buyer:
                raise ApiError(403, details="Only your own messages can be deleted")
            message.deleted = True
            self._touch()

    def bulk(self, threads: int, messages_per_thread: int, seller: str | None = None) -> list[str]:
        """Quickly create many threads (load tests); timestamps lie in the past, oldest first."""
        with self.lock:
            if not 1 <= threads <= 200_000 or not 1 <= messages_per_thread <= 1000:
                raise ControlError("threads must be 1..200000 and messagesPerThread 1..1000")
            seller_obj = self.get_seller(seller)
            now = self.now()
            total = threads * messages_per_thread
            start = now - timedelta(milliseconds=10 * total + 1000)
            step = timedelta(milliseconds=10)
            when = start
            ids = []
            rng = self.rng
            for i in range(threads):
                login = f"{rng.choice(texts.BUYERS)[0].split(':')[0]}_{i:06d}"
                buyer = self.get_buyer(login)
                thread = Thread(self._new_thread_id(), seller_obj.login, login)
                self.threads[thread.id] = thread
                self._thread_by_pair[(seller_obj.login, login)] = thread.id
                product = rng.choice(texts.PRODUCTS)
                for j in range(messages_per_thread):
                    from_buyer = j % 2 == 0
                    if from_buyer:
                        group = "question" if j == 0 else "followup"
                        text = texts.compose(rng, group, product=product, buyer_name=buyer.first_name)
                        msg = Message(
                            self.new_uuid(),
                            thread.id,
                            "ASK_QUESTION" if j == 0 else "MESSAGE_CENTER",
                            "DELIVERED",
                            when,
                            login,
                            True,
                            text,
                            None,
                            product.offer_id if j == 0 else None,
                        )
                    else:
                        msg = Message(
                            self.new_uuid(),
                            thread.id,
                            "MESSAGE_CENTER",
                            "DELIVERED",
                            when,
                            seller_obj.login,
                            False,
                            "Dzień dobry, dziękujemy za wiadomość – sprawdzamy i wracamy z odpowiedzią.",
                        )
                    thread.messages.append(msg)
                    self.messages[msg.id] = msg
                    when += step
                thread.read = not thread.messages[-1].from_buyer
                ids.append(thread.id)
            self._note_time(when)
            self._touch()
            return ids

    # -- "Problemy z zakupem": POST_PURCHASE_ISSUE threads (beta.v1 /messaging, 2026, UNVERIFIED) ------

    def open_post_purchase_thread(
        self,
        *,
        buyer: str,
        text: str,
        seller: str | None = None,
        order_id: str | None = None,
        sub_type: str | None = None,
        created_at: datetime | None = None,
    ) -> tuple[Thread, Message]:
        """A buyer reports a problem with an order: a new thread (one per problem, not per user pair)."""
        with self.lock:
            if not isinstance(text, str) or not text.strip():
                raise ControlError("text must be a non-empty string")
            if not buyer or not isinstance(buyer, str):
                raise ControlError("buyer must be a login")
            sub_type = sub_type or "OTHER"
            if sub_type not in POST_PURCHASE_SUBTYPES:
                raise ControlError(f"subType must be one of {', '.join(POST_PURCHASE_SUBTYPES)}")
            seller_obj = self.get_seller(seller)
            if buyer == seller_obj.login:
                raise ControlError("buyer and seller must differ")
            self.get_buyer(buyer)
            if order_id and order_id in self.orders:
                order = self.orders[order_id]
                if (order.seller, order.buyer) != (seller_obj.login, buyer):
                    raise ControlError(f"order {order_id} belongs to another seller or buyer")
            else:
                order = self.create_order(
                    seller=seller_obj.login, buyer=buyer, order_id=order_id, fulfillment_status="SENT"
                )
            when = created_at or self.event_time()
            if created_at is not None:
                self._note_time(created_at)
            thread = Thread(
                self._new_thread_id(),
                seller_obj.login,
                buyer,
                read=False,
                type=POST_PURCHASE,
                sub_type=sub_type,
                order_id=order.id,
                created_at=when,
            )
            self.threads[thread.id] = thread  # not in _thread_by_pair: the pair's COMMON thread stays apart
            message = self._thread_message(thread, text, "BUYER", "DELIVERED", when)
            return thread, message

    def post_purchase_write(
        self,
        thread_id: str,
        text: str,
        author: str = "BUYER",
        *,
        status: str = "DELIVERED",
        created_at: datetime | None = None,
    ) -> Message:
        """The buyer (or Allegro: ADMIN, SYSTEM) writes in a POST_PURCHASE_ISSUE thread."""
        with self.lock:
            thread = self.threads.get(thread_id)
            if thread is None or thread.type != POST_PURCHASE:
                raise ControlError(f"unknown post-purchase thread {thread_id}", 404)
            role = {"ALLEGRO_ADVISOR": "ADMIN", "ADVISOR": "ADMIN"}.get(author.upper(), author.upper())
            if role not in {"BUYER", "ADMIN", "SYSTEM"}:
                raise ControlError("author must be BUYER, ALLEGRO_ADVISOR (ADMIN) or SYSTEM")
            if not isinstance(text, str) or not text.strip():
                raise ControlError("text must be a non-empty string")
            if status not in MESSAGE_STATUSES:
                raise ControlError(f"status must be one of {', '.join(MESSAGE_STATUSES)}")
            when = created_at or self.event_time()
            if created_at is not None:
                self._note_time(created_at)
            return self._thread_message(thread, text, role, status, when)

    def _thread_message(self, thread: Thread, text: str, role: str, status: str, when: datetime) -> Message:
        message = Message(
            self.new_uuid(),
            thread.id,
            "MESSAGE_CENTER",
            status,
            when,
            thread.buyer if role == "BUYER" else "",
            role == "BUYER",
            text,
            None,
            None,
            thread.order_id,
            role=role,
        )
        thread.messages.append(message)
        if message.visible:
            thread.read = False
        self.messages[message.id] = message
        self._touch()
        return message

    # -- disputes and claims -----------------------------------------------------------------------

    def open_issue(
        self,
        *,
        buyer: str,
        seller: str | None = None,
        type: str = "DISPUTE",
        order_id: str | None = None,
        reason: str | None = None,
        reason_description: str | None = None,
        expectations: Any = None,
        description: str | None = None,
        text: str | None = None,
        right: str | None = None,
        offer_id: str | None = None,
        quantity: int = 1,
        chat_active: bool = True,
        attachments: list[dict[str, Any]] | None = None,
    ) -> Issue:
        with self.lock:
            if type not in {"DISPUTE", "CLAIM"}:
                raise ControlError("type must be DISPUTE or CLAIM")
            reason = reason or (
                "NOT_AS_DESCRIBED" if type == "CLAIM" else "DID_NOT_RECEIVE_GOODS_AFTER_PAYMENT"
            )
            if reason not in ISSUE_REASONS:
                raise ControlError(f"reason must be one of {', '.join(ISSUE_REASONS)}")
            seller_obj = self.get_seller(seller)
            self.get_buyer(buyer)
            if order_id and order_id in self.orders:
                order = self.orders[order_id]
                if order.seller != seller_obj.login or order.buyer != buyer:
                    raise ControlError(f"order {order_id} belongs to another seller or buyer")
            else:
                order = self.create_order(
                    seller=seller_obj.login,
                    buyer=buyer,
                    order_id=order_id,
                    offer_id=offer_id,
                    fulfillment_status="SENT",
                )
            now = self.event_time()
            issue = Issue(
                id=self.new_uuid(),
                type="DISPUTE",
                seller=seller_obj.login,
                buyer=buyer,
                order_id=order.id,
                status="DISPUTE_ONGOING",
                opened_at=now,
                reason=reason,
                reason_description=reason_description,
                description=description,
                offer_id=offer_id or order.line_items[0].offer_id,
                quantity=quantity,
                chat_active=bool(chat_active),
            )
            issue.attachments = [
                self.buyer_attachment("issues", a.get("fileName", "zdjecie.jpg")).id
                for a in attachments or []
                if isinstance(a, dict)
            ]
            first_text = text or texts.fill(
                self.rng.choice(texts.ISSUE_TEXTS), texts.slots(self.rng, order_id=order.id)
            )
            issue.chat.append(
                ChatMessage(self.new_uuid(), first_text, "BUYER", buyer, now, list(issue.attachments))
            )
            self.issues[issue.id] = issue
            if type == "CLAIM":
                self._make_claim(issue, reason=reason, expectations=expectations, right=right, opened=now)
            return issue

    def _expectations(self, issue: Issue, expectations: Any) -> list[dict[str, Any]]:
        order = self.orders[issue.order_id]
        if expectations is None:
            expectations = ["REFUND"]
        if not isinstance(expectations, list):
            raise ControlError("expectations must be a list of names or {name, refund} objects")
        out = []
        for item in expectations:
            name = item.get("name") if isinstance(item, dict) else item
            if name not in EXPECTATIONS:
                raise ControlError(f"expectation must be one of {', '.join(EXPECTATIONS)}")
            refund = item.get("refund") if isinstance(item, dict) else None
            if refund is None and name == "REFUND":
                refund = {"amount": order.total, "currency": "PLN"}
            if refund is None and name == "PARTIAL_REFUND":
                refund = {"amount": f"{float(order.total) / 2:.2f}", "currency": "PLN"}
            out.append({"name": name, "refund": refund})
        return out

    def _make_claim(
        self, issue: Issue, *, reason: str | None, expectations: Any, right: str | None, opened: datetime
    ) -> None:
        if right not in {None, "WARRANTY", "COMPLAINT"}:
            raise ControlError("right must be WARRANTY or COMPLAINT")
        issue.type = "CLAIM"
        issue.status = "CLAIM_SUBMITTED"
        issue.reason = reason or issue.reason
        issue.expectations = self._expectations(issue, expectations)
        issue.right = right or "COMPLAINT"
        issue.opened_at = opened
        issue.status_due = opened + timedelta(days=14)
        issue.decision_due = opened + timedelta(days=15)
        self._claim_numbers[(issue.seller, opened.year)] += 1
        issue.reference_number = f"{self._claim_numbers[(issue.seller, opened.year)]}/{opened.year}"
        issue.return_required = None

    def convert_issue(
        self,
        issue_id: str,
        *,
        reason: str | None = None,
        expectations: Any = None,
        right: str | None = None,
        description: str | None = None,
    ) -> Issue:
        """DISPUTE -> CLAIM keeping the id, as Allegro does (issue #11956)."""
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                raise ControlError(f"unknown issue {issue_id}", 404)
            if issue.type == "CLAIM":
                raise ControlError("the issue is already a claim", 409)
            if reason is not None and reason not in ISSUE_REASONS:
                raise ControlError(f"reason must be one of {', '.join(ISSUE_REASONS)}")
            if description is not None:
                issue.description = description
            self._make_claim(
                issue, reason=reason, expectations=expectations, right=right, opened=self.event_time()
            )
            issue.chat_active = True
            return issue

    def issue_chat(
        self, issue_id: str, text: str, author: str = "BUYER", attachments: list[dict[str, Any]] | None = None
    ) -> ChatMessage:
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                raise ControlError(f"unknown issue {issue_id}", 404)
            role = {"ALLEGRO_ADVISOR": "ADMIN", "ADVISOR": "ADMIN"}.get(author.upper(), author.upper())
            if role not in {"BUYER", "ADMIN", "SYSTEM", "FULFILLMENT"}:
                raise ControlError("author must be BUYER, ALLEGRO_ADVISOR (ADMIN), SYSTEM or FULFILLMENT")
            if not isinstance(text, str) or not text.strip():
                raise ControlError("text must be a non-empty string")
            att_ids = [
                self.buyer_attachment("issues", a.get("fileName", "zdjecie.jpg")).id
                for a in attachments or []
                if isinstance(a, dict)
            ]
            msg = ChatMessage(
                self.new_uuid(),
                text,
                role,
                issue.buyer if role == "BUYER" else None,
                self.event_time(),
                att_ids,
            )
            issue.chat.append(msg)
            return msg

    def set_issue_state(self, issue_id: str, values: dict[str, Any]) -> Issue:
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                raise ControlError(f"unknown issue {issue_id}", 404)
            if "status" in values:
                status = values["status"]
                if status not in ISSUE_STATUSES or status.split("_")[0] != issue.type:
                    raise ControlError(f"status must be a {issue.type} status")
                issue.status = status
                if status == "DISPUTE_CLOSED":
                    issue.chat_active = False
            if "chatActive" in values:
                issue.chat_active = bool(values["chatActive"])
            if "returnRequired" in values:
                issue.return_required = values["returnRequired"]
            for key, attr in (
                ("statusDueDate", "status_due"),
                ("decisionDueDate", "decision_due"),
                ("openedDate", "opened_at"),
            ):
                if key in values:
                    setattr(issue, attr, parse_iso(values[key]) if values[key] else None)
            return issue

    def issue_of_seller(self, seller: str, issue_id: str) -> Issue:
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                raise ApiError(404, details=f"Issue {issue_id} not found")
            if issue.seller != seller:
                raise ApiError(403, details=f"Issue {issue_id} belongs to another user")
            return issue

    def seller_issue_message(self, seller: str, issue_id: str, body: dict[str, Any]) -> ChatMessage:
        with self.lock:
            issue = self.issue_of_seller(seller, issue_id)
            text = body.get("text")
            has_attachments = bool(body.get("attachments"))
            if text is None and not has_attachments:
                raise validation_error("text", "text or attachments must be present", "not_null")
            if text is not None:
                if not isinstance(text, str):
                    raise validation_error("text", "must be a string", "generic")
                if len(text) > MAX_ISSUE_TEXT:
                    raise validation_error(
                        "text",
                        f"size must be between 0 and {MAX_ISSUE_TEXT}",
                        "size",
                        min=0,
                        max=MAX_ISSUE_TEXT,
                    )
            msg_type = body.get("type")
            if msg_type not in ISSUE_MESSAGE_TYPES:
                raise validation_error(
                    "type",
                    f"must be one of {', '.join(ISSUE_MESSAGE_TYPES)}",
                    "invalid_value",
                    value=msg_type,
                )
            if msg_type == "END_REQUEST" and issue.type != "DISPUTE":
                raise validation_error(
                    "type", "END_REQUEST is allowed only for disputes", "invalid_value", value=msg_type
                )
            if msg_type.startswith("RETURN_") and issue.type != "CLAIM":
                raise validation_error(
                    "type", f"{msg_type} is allowed only for claims", "invalid_value", value=msg_type
                )
            if not issue.chat_active:
                raise ApiError(
                    409,
                    "CONFLICT",
                    "Dispute is in a state that forbids adding new messages",
                    user="chat_inactive",
                )
            att_ids = self._resolve_seller_attachments(
                "issues", seller, body.get("attachments"), "attachments"
            )
            msg = ChatMessage(
                self.new_uuid(), text or "", "SELLER", seller, self.event_time(), att_ids, msg_type
            )
            issue.chat.append(msg)
            if msg_type in {"RETURN_REQUIRED_SELLER_LABEL", "RETURN_REQUIRED_CUSTOM"}:
                issue.return_required = True
            elif msg_type == "RETURN_NOT_REQUIRED":
                issue.return_required = False
            self.sent.append(
                {
                    "kind": "issueMessage",
                    "seller": seller,
                    "issueId": issue.id,
                    "issueType": issue.type,
                    "messageId": msg.id,
                    "recipient": issue.buyer,
                    "type": msg_type,
                    "text": msg.text,
                    "createdAt": iso(msg.created_at),
                    "attachments": [self._attachment_summary(a) for a in att_ids],
                }
            )
            return msg

    def change_claim_status(self, seller: str, issue_id: str, body: dict[str, Any]) -> Issue:
        with self.lock:
            issue = self.issue_of_seller(seller, issue_id)
            if issue.type != "CLAIM":
                raise ApiError(
                    400, "VALIDATION_ERROR", "Status can be changed only for claims", user="generic"
                )
            status = body.get("status")
            if status not in CLAIM_DECISIONS:
                raise validation_error(
                    "status",
                    f"must be one of {', '.join(CLAIM_DECISIONS)}",
                    "invalid_value",
                    status=400,
                    value=status,
                )
            message = body.get("message")
            if not isinstance(message, str) or not message.strip():
                raise validation_error("message", "must not be blank", "not_blank", status=400)
            refund = body.get("partialRefund")
            if status == "ACCEPTED_PARTIAL_REFUND" and not (
                isinstance(refund, dict) and refund.get("amount") and refund.get("currency")
            ):
                raise validation_error("partialRefund", "must not be null", "not_null", status=400)
            if issue.status != "CLAIM_SUBMITTED":
                raise ApiError(400, "VALIDATION_ERROR", f"Claim is already {issue.status}", user="conflict")
            issue.status = "CLAIM_ACCEPTED" if status.startswith("ACCEPTED") else "CLAIM_REJECTED"
            msg = ChatMessage(self.new_uuid(), message, "SELLER", seller, self.event_time(), [], "REGULAR")
            issue.chat.append(msg)
            self.sent.append(
                {
                    "kind": "claimStatus",
                    "seller": seller,
                    "issueId": issue.id,
                    "issueType": issue.type,
                    "messageId": msg.id,
                    "recipient": issue.buyer,
                    "status": status,
                    "partialRefund": refund,
                    "text": message,
                    "createdAt": iso(msg.created_at),
                    "attachments": [],
                }
            )
            return issue

    def seller_issues(self, seller: str) -> list[Issue]:
        with self.lock:
            issues = [i for i in self.issues.values() if i.seller == seller]
            issues.sort(key=lambda i: (i.opened_at, i.id), reverse=True)
            return issues

    # -- summary -----------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "sellers": sorted(self.sellers),
                "buyers": len(self.buyers),
                "threads": len(self.threads),
                "messages": len(self.messages),
                "issues": len(self.issues),
                "orders": len(self.orders),
                "orderEvents": len(self.order_events),
                "sent": len(self.sent),
                "activeTokens": sum(
                    1
                    for t in self.tokens.values()
                    if t.kind == "access" and not t.revoked and t.expires_at > self.now_ts()
                ),
                "faults": [f.as_dict() for f in self.faults],
                "now": iso(self.now()),
            }
