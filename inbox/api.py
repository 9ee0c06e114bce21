"""Public JSON API (DRF, issue #8). `<Entity><Action>Api` views with nested serializers.

Views parse input, call one service or selector and serialize; the logic stays in services.
Every object is looked up within the caller's organization (the API token's, or the signed-in
member's), so anything else is a 404. Authentication, token scopes and throttling are in
`inbox/authentication.py`; the error body and the OpenAPI additions are at the end of this module.

Lists use keyset pagination: `?limit=` (1–200) and the opaque `next_cursor` of the previous page
as `?cursor=`. A cursor belongs to the ordering it came from; rows inserted before the cursor's
position do not shift the following pages.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.validators import RegexValidator
from django.db.models import F, Q, QuerySet
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import search, selectors, services
from .authentication import ApiToken, TokenScopePermission
from .forms import MAX_REPLY_LENGTH
from .models import Contact, Conversation, Membership, Message

logger = logging.getLogger(__name__)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


# ==================================================================================================
# Base classes
# ==================================================================================================


class IsMember(IsAuthenticated):
    """A token of an organization, or a signed-in member (404 for a user without a workspace)."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if isinstance(request.auth, ApiToken):
            return True
        if getattr(request, "membership", None) is None:
            raise Http404
        return True


class MemberApi(APIView):
    permission_classes = [IsMember, TokenScopePermission]

    def __init_subclass__(cls, **kwargs):
        # Nested serializers become OpenAPI components named after the view, so names never
        # collide: ConversationReplyApi.Input → "ConversationReplyRequest" (drf-spectacular adds
        # "Request"), MeDetailApi.Output → "MeDetailOutput".
        super().__init_subclass__(**kwargs)
        base = cls.__name__.removesuffix("Api")
        for attr, suffix in (("Input", ""), ("Output", "Output"), ("Query", "Query")):
            nested = cls.__dict__.get(attr)
            if nested is not None:
                nested.__name__ = nested.__qualname__ = f"{base}{suffix}"

    @property
    def membership(self) -> Membership:
        if isinstance(self.request.auth, ApiToken):
            return self.request.auth.membership
        return self.request.membership

    @property
    def organization(self):
        return self.membership.organization

    def query(self, serializer_class) -> dict:
        """Validated query parameters (400 with the field errors otherwise)."""
        # A plain dict (not the QueryDict): DRF would read `?kind=` as "absent"; it is invalid.
        query = serializer_class(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        return query.validated_data

    def body(self, serializer_class) -> dict:
        data = serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data


# Text that must not be blank once trimmed (DRF trims) and, like every string we store, holds no
# NUL character (PostgreSQL cannot); documented as the `pattern` in the schema.
not_blank = RegexValidator(r"^[^\x00]*[^\x00\s][^\x00]*$", message="This field may not be blank.")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's state."
    default_code = "conflict"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_key_reused"


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of converting them (the schema says
    "string": `{"text": 436863}` is a client error, not a reply reading "436863")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# ==================================================================================================
# Keyset pagination
# ==================================================================================================


def _cursor_encode(tag: str, value, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([tag, value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(raw: str, tag: str, *, datetime_key: bool) -> tuple[object, int]:
    invalid = exceptions.ValidationError({"cursor": ["Invalid cursor."]}, code="invalid")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not (isinstance(decoded, list) and len(decoded) == 3 and decoded[0] == tag):
        raise invalid
    _tag, value, pk = decoded
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
        raise invalid
    if value is not None and datetime_key:
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise invalid from exc
        if value.tzinfo is None:
            raise invalid
    elif value is not None:
        raise invalid
    return value, pk


def _after(key: str | None, *, desc: bool, value, pk: int) -> Q:
    """Rows after (value, pk) in `ORDER BY key [DESC], id [DESC]` (PostgreSQL: NULLs are largest)."""
    if key is None:
        return Q(pk__lt=pk) if desc else Q(pk__gt=pk)
    if desc:  # NULLS FIRST
        if value is None:
            return Q(**{f"{key}__isnull": True, "pk__lt": pk}) | Q(**{f"{key}__isnull": False})
        return Q(**{f"{key}__lt": value}) | Q(**{key: value, "pk__lt": pk})
    if value is None:  # ASC NULLS LAST
        return Q(**{f"{key}__isnull": True, "pk__gt": pk})
    return Q(**{f"{key}__gt": value}) | Q(**{key: value, "pk__gt": pk}) | Q(**{f"{key}__isnull": True})


def keyset_page(
    qs: QuerySet, *, tag: str, key: str | None, desc: bool, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    """One page of `qs`, which must already be ordered by (`key`, id) in the direction given."""
    if cursor:
        value, pk = _cursor_decode(cursor, tag, datetime_key=key is not None)
        qs = qs.filter(_after(key, desc=desc, value=value, pk=pk))
    rows = list(qs[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, _cursor_encode(tag, getattr(last, key) if key else None, last.pk)


class PageQuery(serializers.Serializer):
    cursor = serializers.CharField(
        required=False, max_length=400, help_text="`next_cursor` of the previous page."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


def _page_serializer(name: str, item):
    """A `{results: [...], next_cursor}` envelope serializer around `item`."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "results": item(many=True),
            "next_cursor": serializers.CharField(
                allow_null=True, help_text="Pass as `cursor` for the next page."
            ),
        },
    )


# ==================================================================================================
# Output serializers shared by several endpoints (and by webhook payloads)
# ==================================================================================================


class AccountRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel = serializers.CharField(source="kind")


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class ClockOutput(serializers.Serializer):
    kind = serializers.CharField(help_text="marketplace | team")
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    state = serializers.CharField(help_text="ok | warn-N (N warning levels reached) | breached")


class ConversationOutput(serializers.ModelSerializer):
    account = AccountRef()
    assignee = UserRef(allow_null=True)
    contact_id = serializers.IntegerField(allow_null=True)
    sla_clocks = serializers.SerializerMethodField(help_text="The running reply clocks, marketplace first.")

    class Meta:
        model = Conversation
        fields = [
            "id", "kind", "external_id", "subject", "status", "snoozed_until", "account", "assignee",
            "contact_id", "order_id", "offer_id", "marketplace_state", "reply_blocked_reason", "created_at",
            "last_message_at", "last_inbound_at", "last_outbound_at", "last_reply_at", "awaiting_reply_since",
            "sla_clocks",
        ]  # fmt: skip

    @extend_schema_field(ClockOutput(many=True))
    def get_sla_clocks(self, conversation: Conversation) -> list[dict]:
        from sla import selectors as sla_selectors  # lazily: sla depends on inbox

        clocks = getattr(conversation, "sla_open_clocks", None)
        if clocks is None:
            clocks = sla_selectors.sla_open_clocks(conversation)
        return [
            {
                "kind": c.kind,
                "started_at": c.started_at,
                "due_at": c.due_at,
                "state": sla_selectors.sla_clock_state(c),
            }
            for c in clocks
        ]


class AttachmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class MessageOutput(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField()
    author_user_id = serializers.IntegerField(allow_null=True)
    attachments = AttachmentOutput(many=True)

    class Meta:
        model = Message
        fields = [
            "id", "conversation_id", "direction", "author_type", "author_name", "author_user_id",
            "classification", "subject", "text", "html", "external_id", "source_created_at", "created_at",
            "delivery_status", "delivered_at", "failure_reason", "attempts", "next_attempt_at", "attachments",
        ]  # fmt: skip


class ConversationRef(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "kind", "subject", "status", "last_message_at"]


class IdentityOutput(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()


class ContactOutput(serializers.ModelSerializer):
    identities = IdentityOutput(many=True)

    class Meta:
        model = Contact
        fields = ["id", "display_name", "created_at", "identities"]


class ConversationListOutput(ConversationOutput):
    risk_points = serializers.SerializerMethodField(
        help_text=(
            "With `sort=risk`: points of the customer-service quality area that answering now saves at the "
            "next daily cut-off (0 when overdue or due later); otherwise null."
        )
    )

    class Meta(ConversationOutput.Meta):
        fields = [*ConversationOutput.Meta.fields, "risk_points"]

    def get_risk_points(self, conversation: Conversation) -> float | None:
        return getattr(conversation, "risk_points", None)


ConversationPage = _page_serializer("ConversationPage", ConversationListOutput)
MessagePage = _page_serializer("MessagePage", MessageOutput)
ContactPage = _page_serializer("ContactPage", ContactOutput)


# ==================================================================================================
# Organization
# ==================================================================================================


class OrganizationRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class MeDetailApi(MemberApi):
    class Output(serializers.Serializer):
        organization = OrganizationRef()
        user = UserRef()
        role = serializers.CharField()
        auth = serializers.CharField(help_text="token | session")
        scope = serializers.CharField(allow_null=True, help_text="read | write for a token")

    @extend_schema(tags=["organization"], responses=Output, summary="Who am I: organization, user, role")
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        org = self.organization
        return Response(
            self.Output(
                {
                    "organization": org,
                    "user": request.user,
                    "role": self.membership.role,
                    "auth": "token" if token else "session",
                    "scope": token.scope if token else None,
                }
            ).data
        )


class MemberListApi(MemberApi):
    class Output(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        name = serializers.CharField()
        role = serializers.CharField()

    @extend_schema(tags=["organization"], responses=Output(many=True), summary="Members (for assigning)")
    def get(self, request):
        memberships = (
            Membership.objects.filter(organization=self.organization)
            .select_related("user")
            .order_by("user__username")
        )
        rows = [
            {
                "id": m.user.pk,
                "username": m.user.get_username(),
                "name": m.user.get_full_name(),
                "role": m.role,
            }
            for m in memberships
        ]
        return Response(self.Output(rows, many=True).data)


# ==================================================================================================
# Conversations
# ==================================================================================================


class ConversationListApi(MemberApi):
    class Query(PageQuery):
        filter = serializers.ChoiceField(
            choices=selectors.FILTERS,
            required=False,
            default="all",
            help_text="As in the inbox (default: all).",
        )
        kind = serializers.ChoiceField(choices=Conversation.Kind.choices, required=False)
        due_within = serializers.FloatField(
            required=False,
            min_value=0,
            max_value=720,
            help_text="Marketplace deadline within N hours (overdue included).",
        )
        sort = serializers.ChoiceField(
            choices=selectors.SORTS,
            required=False,
            default="due",
            help_text=(
                "Waiting lists (`filter=awaiting` or `due_within`): `due` = marketplace deadline, soonest "
                "first; `risk` = quality-score points saved by answering now (`risk_points`), most first, "
                "then deadline."
            ),
        )

        q = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=search.MAX_QUERY_LENGTH,
            help_text=(
                "Search: words of the messages (accent- and case-insensitive, each word also as the start "
                "of a longer one: `zwrot` finds `zwrotu`), parts of order numbers, buyer logins, names "
                "and e-mail addresses, and the subject; typos in buyer and order fields when nothing else "
                "matches. With `q` the results are ranked (buyer / order match, the words as a phrase, all "
                "the words, part of a word; newest first within each) instead of sorted, at most "
                f"{search.MAX_RESULTS}; the other parameters still filter. Blank: no search."
            ),
        )

        def validate_due_within(self, value: float) -> float:
            if not math.isfinite(value):
                raise serializers.ValidationError("A finite number is required.")
            return value

        def validate_q(self, value: str) -> str:
            error = search.search_query_parse(value).error if value.strip() else ""
            if error:
                raise serializers.ValidationError(error)
            return value

        def validate(self, attrs: dict) -> dict:
            if (
                attrs.get("sort") == "risk"
                and attrs.get("filter") != "awaiting"
                and "due_within" not in attrs
            ):
                raise serializers.ValidationError(
                    {"sort": ["`risk` sorts waiting lists only: use filter=awaiting or due_within."]}
                )
            return attrs

    @extend_schema(
        tags=["conversations"],
        parameters=[Query],
        responses=ConversationPage,
        summary="List conversations",
        description=(
            "The inbox's filters and sort: `awaiting` (and any `due_within`) sorts by the marketplace "
            "deadline, soonest or most overdue first; the other filters by the latest message, newest first."
        ),
    )
    def get(self, request):
        q = self.query(self.Query)
        if q.get("q", "").strip():
            return self._search(request, q)
        due_within = q.get("due_within")
        # limit=None: the selector's filtered, ordered queryset without its slice (the page is cut here).
        qs = selectors.conversation_list(
            organization=self.organization,
            user=request.user,
            filter_name=q["filter"],
            kind=q.get("kind", ""),
            due_within=due_within,
            limit=None,
            sort=q["sort"],
        )
        if q["sort"] == "risk":
            qs = qs.annotate(sort_key=F("sla_clocks__due_at"))
            rows, cursor = _risk_page(qs, cursor=q.get("cursor"), limit=q["limit"])
        elif q["filter"] == "awaiting" or due_within is not None:
            # Same join as the selector's ORDER BY sla_clocks.due_at (annotations reuse joins).
            qs = qs.annotate(sort_key=F("sla_clocks__due_at"))
            rows, cursor = keyset_page(
                qs, tag="due", key="sort_key", desc=False, cursor=q.get("cursor"), limit=q["limit"]
            )
        else:
            rows, cursor = keyset_page(
                qs, tag="recent", key="last_message_at", desc=True, cursor=q.get("cursor"), limit=q["limit"]
            )
        return Response({"results": ConversationListOutput(rows, many=True).data, "next_cursor": cursor})

    def _search(self, request, q: dict) -> Response:
        """`?q=`: the inbox's search, ranked; pages by position in the ranking (the cursor holds the
        offset of the next page, so a new match can shift the pages that follow)."""
        offset = _cursor_decode(q["cursor"], "search", datetime_key=False)[1] if q.get("cursor") else 0
        rows = selectors.conversation_search(
            organization=self.organization,
            user=request.user,
            q=q["q"],
            filter_name=q["filter"],
            kind=q.get("kind", ""),
            due_within=q.get("due_within"),
            limit=q["limit"] + 1,
            offset=offset,
        )
        cursor = None
        if len(rows) > q["limit"]:
            rows = rows[: q["limit"]]
            cursor = _cursor_encode("search", None, offset + q["limit"])
        return Response({"results": ConversationListOutput(rows, many=True).data, "next_cursor": cursor})


def _risk_page(qs: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Keyset page of ORDER BY risk_points DESC, due ASC, id ASC (the cursor holds all three). The
    points are recomputed at each request, so a boundary can move as waits grow and clocks close."""
    invalid = exceptions.ValidationError({"cursor": ["Invalid cursor."]}, code="invalid")
    if cursor:
        try:
            tag, (points, due), pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            due = datetime.fromisoformat(due)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise invalid from exc
        if (
            tag != "risk"
            or not isinstance(points, int | float)
            or isinstance(points, bool)
            or not math.isfinite(points)
            or abs(points) > 1e6
            or not isinstance(pk, int)
            or isinstance(pk, bool)
            or not 0 < pk < 2**63
            or due.tzinfo is None
        ):
            raise invalid
        qs = qs.filter(
            Q(risk_points__lt=points)
            | Q(risk_points=points, sort_key__gt=due)
            | Q(risk_points=points, sort_key=due, pk__gt=pk)
        )
    rows = list(qs[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, _cursor_encode("risk", [last.risk_points, last.sort_key.isoformat()], last.pk)


class ConversationDetailApi(MemberApi):
    @extend_schema(tags=["conversations"], responses=ConversationOutput, summary="One conversation")
    def get(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        return Response(ConversationOutput(conversation).data)


def _conversation_after(conversation: Conversation) -> dict:
    conversation = selectors.conversation_get(organization=conversation.organization, pk=conversation.pk)
    return ConversationOutput(conversation).data


class ConversationReplyApi(MemberApi):
    class Input(serializers.Serializer):
        text = StrictCharField(max_length=MAX_REPLY_LENGTH, validators=[not_blank])

    @extend_schema(
        tags=["conversations"],
        request=Input,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 255},
                OpenApiParameter.HEADER,
                description=(
                    "Any string up to 255 characters. Repeating a request with the same key returns the "
                    "first reply (200) instead of storing a second one; reusing it for another text or "
                    "conversation is refused (422)."
                ),
            )
        ],
        responses={
            201: MessageOutput,
            200: OpenApiResponse(
                MessageOutput, description="The reply stored earlier with this Idempotency-Key."
            ),
            409: OpenApiResponse(description="Replying is not possible in this conversation."),
            422: OpenApiResponse(description="The Idempotency-Key was used for a different request."),
        },
        summary="Reply (queued in the outbox, delivered by a worker)",
    )
    def post(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        data = self.body(self.Input)
        raw_key = request.headers.get("Idempotency-Key")
        if raw_key is not None and not 0 < len(raw_key) <= 255:
            raise exceptions.ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        # Any client string maps to one UUID per organization, so keys never collide across tenants.
        key = (
            uuid.uuid5(uuid.NAMESPACE_URL, f"replydesk:{self.organization.pk}:{raw_key}") if raw_key else None
        )
        try:
            message, created = services.message_reply_create(
                conversation, text=data["text"], acting_user=request.user, idempotency_key=key
            )
        except PermissionError as exc:
            raise Conflict(str(exc)) from exc
        except ValueError as exc:
            raise exceptions.ValidationError({"text": [str(exc)]}) from exc
        if not created and (
            message.conversation_id != conversation.pk or message.text != data["text"].strip()
        ):
            raise IdempotencyKeyReused()
        return Response(
            MessageOutput(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ConversationAssignApi(MemberApi):
    class Input(serializers.Serializer):
        assignee_id = serializers.IntegerField(
            allow_null=True,
            min_value=1,
            max_value=2**63 - 1,
            help_text="A member's user id, or null to unassign.",
        )

    @extend_schema(
        tags=["conversations"], request=Input, responses=ConversationOutput, summary="Assign or unassign"
    )
    def post(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        data = self.body(self.Input)
        assignee = None
        if data["assignee_id"] is not None:
            assignee = (
                selectors.organization_members(organization=self.organization)
                .filter(pk=data["assignee_id"])
                .first()
            )
            if assignee is None:
                raise exceptions.ValidationError({"assignee_id": ["Not a member of this organization."]})
        services.conversation_assign(conversation, assignee=assignee, acting_user=request.user)
        return Response(_conversation_after(conversation))


class ConversationCloseApi(MemberApi):
    @extend_schema(tags=["conversations"], request=None, responses=ConversationOutput, summary="Close")
    def post(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        services.conversation_close(conversation, acting_user=request.user)
        return Response(_conversation_after(conversation))


class ConversationReopenApi(MemberApi):
    @extend_schema(tags=["conversations"], request=None, responses=ConversationOutput, summary="Reopen")
    def post(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        services.conversation_reopen(conversation, acting_user=request.user)
        return Response(_conversation_after(conversation))


# ==================================================================================================
# Messages
# ==================================================================================================


class MessageListApi(MemberApi):
    @extend_schema(
        tags=["messages"],
        parameters=[PageQuery],
        responses=MessagePage,
        summary="A conversation's messages, oldest first",
    )
    def get(self, request, pk: int):
        q = self.query(PageQuery)
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        qs = selectors.message_list_for_conversation(conversation)
        rows, cursor = keyset_page(
            qs, tag="messages", key="source_created_at", desc=False, cursor=q.get("cursor"), limit=q["limit"]
        )
        return Response({"results": MessageOutput(rows, many=True).data, "next_cursor": cursor})


def _message_get(organization, pk: int, message_pk: int) -> Message:
    conversation = selectors.conversation_get(organization=organization, pk=pk)
    message = selectors.message_list_for_conversation(conversation).filter(pk=message_pk).first()
    if message is None:
        raise Http404
    return message


class MessageDetailApi(MemberApi):
    @extend_schema(tags=["messages"], responses=MessageOutput, summary="One message")
    def get(self, request, pk: int, message_pk: int):
        return Response(MessageOutput(_message_get(self.organization, pk, message_pk)).data)


class MessageRetryApi(MemberApi):
    @extend_schema(
        tags=["messages"],
        request=None,
        responses={200: MessageOutput, 409: OpenApiResponse(description="Not an outbound reply.")},
        summary="Retry a failed reply (no-op unless it failed)",
    )
    def post(self, request, pk: int, message_pk: int):
        message = _message_get(self.organization, pk, message_pk)
        if message.direction != Message.Direction.OUTBOUND:
            raise Conflict("Only outbound replies can be retried.")
        services.message_retry(message, acting_user=request.user)
        return Response(MessageOutput(_message_get(self.organization, pk, message_pk)).data)


# ==================================================================================================
# Contacts
# ==================================================================================================


def _contacts(organization) -> QuerySet[Contact]:
    return Contact.objects.filter(organization=organization).prefetch_related("identities")


class ContactListApi(MemberApi):
    class Query(PageQuery):
        identity = StrictCharField(
            required=False, max_length=320, help_text="Only the contact with this login or address (exact)."
        )

    @extend_schema(
        tags=["contacts"], parameters=[Query], responses=ContactPage, summary="Contacts, newest first"
    )
    def get(self, request):
        q = self.query(self.Query)
        qs = _contacts(self.organization).order_by("-id")
        if q.get("identity"):
            value = q["identity"].strip()
            qs = qs.filter(Q(identities__value=value) | Q(identities__value=value.lower())).distinct()
        rows, cursor = keyset_page(
            qs, tag="contacts", key=None, desc=True, cursor=q.get("cursor"), limit=q["limit"]
        )
        return Response({"results": ContactOutput(rows, many=True).data, "next_cursor": cursor})


class ContactDetailApi(MemberApi):
    class Output(ContactOutput):
        conversations = serializers.SerializerMethodField(help_text="The latest 50 conversations.")

        class Meta(ContactOutput.Meta):
            fields = [*ContactOutput.Meta.fields, "conversations"]

        @extend_schema_field(ConversationRef(many=True))
        def get_conversations(self, contact: Contact) -> list[dict]:
            qs = Conversation.objects.filter(organization_id=contact.organization_id, contact=contact)
            return ConversationRef(
                qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")[:50], many=True
            ).data

    @extend_schema(tags=["contacts"], responses=Output, summary="One contact with its conversations")
    def get(self, request, pk: int):
        contact = get_object_or_404(_contacts(self.organization), pk=pk)
        return Response(self.Output(contact).data)


# ==================================================================================================
# SLA: policies, response records, metrics, "no reply needed" (sla/ is imported lazily)
# ==================================================================================================

CALENDARS = ("working_days", "business_hours", "calendar_hours")


class SlaPolicyOutput(serializers.Serializer):
    conversation_kind = serializers.CharField(source="kind")
    is_default = serializers.SerializerMethodField(help_text="True while the organization kept the defaults.")
    marketplace_limit_minutes = serializers.IntegerField()
    marketplace_calendar = serializers.CharField()
    team_target_minutes = serializers.IntegerField(allow_null=True)
    team_calendar = serializers.CharField()
    business_hours = serializers.CharField()
    warning_minutes = serializers.ListField(child=serializers.IntegerField())

    def get_is_default(self, policy) -> bool:
        return policy.policy_id is None


class SlaPolicyListApi(MemberApi):
    class Input(serializers.Serializer):
        conversation_kind = serializers.ChoiceField(choices=Conversation.Kind.choices)
        marketplace_limit_minutes = serializers.IntegerField(min_value=1, max_value=525600)
        marketplace_calendar = serializers.ChoiceField(choices=CALENDARS)
        team_target_minutes = serializers.IntegerField(min_value=1, max_value=525600, allow_null=True)
        team_calendar = serializers.ChoiceField(choices=CALENDARS)
        business_hours = StrictCharField(
            max_length=200,
            validators=[not_blank],
            help_text='Windows per weekday, e.g. "mon-fri 08:00-18:00".',
        )
        warning_minutes = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=525600), max_length=5, allow_empty=True
        )

    @extend_schema(
        tags=["sla"], responses=SlaPolicyOutput(many=True), summary="Effective reply policy per kind"
    )
    def get(self, request):
        from sla import selectors as sla_selectors

        policies = sla_selectors.sla_policies_effective(organization_id=self.organization.pk)
        return Response(SlaPolicyOutput([policies[k] for k in Conversation.Kind.values], many=True).data)

    @extend_schema(
        tags=["sla"],
        request=Input,
        responses={200: SlaPolicyOutput},
        summary="Save one kind's policy (owners and leads)",
        description="New clocks use it; running clocks keep the policy they started with.",
    )
    def post(self, request):
        from sla import selectors as sla_selectors
        from sla import services as sla_services

        data = self.body(self.Input)
        try:
            sla_services.sla_policy_update(self.organization, acting_user=request.user, **data)
        except PermissionError as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        except ValueError as exc:
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from exc
        policy = sla_selectors.sla_policy_effective(
            organization_id=self.organization.pk, kind=data["conversation_kind"]
        )
        return Response(SlaPolicyOutput(policy).data)


class ResponseRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    conversation_kind = serializers.CharField()
    channel = serializers.CharField()
    agent_id = serializers.IntegerField(allow_null=True)
    start_message_id = serializers.IntegerField(allow_null=True)
    reply_message_id = serializers.IntegerField(allow_null=True)
    received_at = serializers.DateTimeField()
    replied_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField()
    day = serializers.DateField()
    wall_seconds = serializers.IntegerField()
    marketplace_due_at = serializers.DateTimeField()
    marketplace_seconds = serializers.IntegerField()
    marketplace_met = serializers.BooleanField()
    team_due_at = serializers.DateTimeField(allow_null=True)
    team_seconds = serializers.IntegerField(allow_null=True)
    team_met = serializers.BooleanField(allow_null=True)
    no_reply_needed = serializers.BooleanField()
    no_reply_reason = serializers.CharField()


ResponseRecordPage = _page_serializer("ResponseRecordPage", ResponseRecordOutput)


def _response_records(organization):
    from sla.models import ResponseRecord

    return ResponseRecord.objects.filter(organization=organization)


class ResponseRecordListApi(MemberApi):
    class Query(PageQuery):
        conversation = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
        account = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
        since = serializers.DateTimeField(required=False, help_text="decided_at ≥ since")
        until = serializers.DateTimeField(required=False, help_text="decided_at < until")

    @extend_schema(
        tags=["sla"],
        parameters=[Query],
        responses=ResponseRecordPage,
        summary="Response records (one per buyer message → reply), newest decision first",
    )
    def get(self, request):
        q = self.query(self.Query)
        qs = _response_records(self.organization)
        if "conversation" in q:
            qs = qs.filter(conversation_id=q["conversation"])
        if "account" in q:
            qs = qs.filter(account_id=q["account"])
        if "since" in q:
            qs = qs.filter(decided_at__gte=q["since"])
        if "until" in q:
            qs = qs.filter(decided_at__lt=q["until"])
        qs = qs.order_by("-decided_at", "-id")
        rows, cursor = keyset_page(
            qs, tag="records", key="decided_at", desc=True, cursor=q.get("cursor"), limit=q["limit"]
        )
        return Response({"results": ResponseRecordOutput(rows, many=True).data, "next_cursor": cursor})


class ResponseRecordDetailApi(MemberApi):
    @extend_schema(tags=["sla"], responses=ResponseRecordOutput, summary="One response record")
    def get(self, request, pk: int):
        return Response(
            ResponseRecordOutput(get_object_or_404(_response_records(self.organization), pk=pk)).data
        )


class SlaMetricsRowOutput(serializers.Serializer):
    key = serializers.CharField(
        allow_null=True, help_text="The group's id or value (null: the whole organization)."
    )
    label = serializers.CharField()
    replied = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late_replied = serializers.IntegerField()
    overdue_unanswered = serializers.IntegerField()
    breaches = serializers.IntegerField()
    no_reply = serializers.IntegerField()
    on_time_rate = serializers.FloatField(allow_null=True)
    avg_policy_seconds = serializers.FloatField(allow_null=True)
    avg_wall_seconds = serializers.FloatField(allow_null=True)
    p50_policy_seconds = serializers.FloatField(allow_null=True)
    p90_policy_seconds = serializers.FloatField(allow_null=True)
    p50_wall_seconds = serializers.FloatField(allow_null=True)
    p90_wall_seconds = serializers.FloatField(allow_null=True)
    team_measured = serializers.IntegerField()
    team_met = serializers.IntegerField()
    team_breaches = serializers.IntegerField()
    team_met_rate = serializers.FloatField(allow_null=True)
    waiting_now = serializers.IntegerField()
    oldest_waiting_since = serializers.DateTimeField(allow_null=True)


class SlaMetricsApi(MemberApi):
    class Query(serializers.Serializer):
        days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=366)
        group_by = serializers.ChoiceField(
            choices=("account", "kind", "channel", "agent", "day"), required=False
        )

    class Output(serializers.Serializer):
        days = serializers.IntegerField()
        group_by = serializers.CharField(allow_null=True)
        rows = SlaMetricsRowOutput(many=True)

    @extend_schema(
        tags=["sla"],
        parameters=[Query],
        responses=Output,
        summary="Reply-time metrics over a rolling window (rules.md §3)",
    )
    def get(self, request):
        from sla import selectors as sla_selectors

        q = self.query(self.Query)
        group_by = q.get("group_by")
        rows = sla_selectors.sla_metrics(organization=self.organization, days=q["days"], group_by=group_by)
        data = []
        for row in rows:
            item = {name: getattr(row, name) for name in SlaMetricsRowOutput().fields}
            item["key"] = None if row.key is None else str(row.key)
            data.append(item)
        return Response(
            {"days": q["days"], "group_by": group_by, "rows": SlaMetricsRowOutput(data, many=True).data}
        )


class ConversationNoReplyNeededApi(MemberApi):
    class Input(serializers.Serializer):
        reason = StrictCharField(max_length=300, validators=[not_blank])

    class Output(serializers.Serializer):
        conversation = ConversationOutput()
        response_record = ResponseRecordOutput(allow_null=True, help_text="Null when nothing was waiting.")

    @extend_schema(
        tags=["conversations"],
        request=Input,
        responses=Output,
        summary="No reply needed: stop the reply clocks, with a reason (audited)",
    )
    def post(self, request, pk: int):
        from sla import services as sla_services

        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        data = self.body(self.Input)
        try:
            record = sla_services.sla_no_reply_needed(
                conversation, reason=data["reason"], acting_user=request.user
            )
        except ValueError as exc:
            raise exceptions.ValidationError({"reason": [str(exc)]}) from exc
        except PermissionError as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        return Response(
            {
                "conversation": _conversation_after(conversation),
                "response_record": ResponseRecordOutput(record).data if record else None,
            }
        )


# ==================================================================================================
# Errors: one body for every 4xx/5xx, and the OpenAPI documentation of it
# ==================================================================================================


def api_exception_handler(exc, context):
    """Every error as `{"status", "code", "detail"[, "fields"][, "retry_after"]}`.

    `fields` maps input names to messages (400); `retry_after` (seconds, also the `Retry-After`
    header) comes with 429. Unexpected exceptions are logged and answered 500 in the same shape.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None  # Django's debug page
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            {"status": 500, "code": "server_error", "detail": "Internal server error."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    body: dict = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        body["code"] = "invalid"
        body["detail"] = "Invalid input."
        body["fields"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        codes = exc.get_codes()
        body["code"] = codes if isinstance(codes, str) else exc.default_code
        body["detail"] = str(exc.detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        wait = max(1, math.ceil(exc.wait))
        body["retry_after"] = wait
        response["Retry-After"] = str(wait)
    response.data = body
    return response


@csrf_exempt  # any method: the answer is the same 404
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/v1/ (a JSON 404 rather than the HTML page)."""
    return JsonResponse({"status": 404, "code": "not_found", "detail": "Not found."}, status=404)


# ==================================================================================================
# Quality snapshots (Allegro's official daily figures, issue #6)
# ==================================================================================================


class QualitySnapshotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    day = serializers.DateField()
    score = serializers.FloatField()
    grade = serializers.CharField()
    max_score = serializers.FloatField(allow_null=True)
    metrics = serializers.ListField(child=serializers.DictField())
    fetched_at = serializers.DateTimeField()


QualitySnapshotPage = _page_serializer("QualitySnapshotPage", QualitySnapshotOutput)


class QualitySnapshotListApi(MemberApi):
    class Query(PageQuery):
        account = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
        since = serializers.DateField(required=False, help_text="day ≥ since")
        until = serializers.DateField(required=False, help_text="day < until")

    @extend_schema(
        tags=["quality"],
        parameters=[Query],
        responses=QualitySnapshotPage,
        summary="Allegro's official daily quality figures per account, newest first",
    )
    def get(self, request):
        from sla.models import QualitySnapshot

        q = self.query(self.Query)
        qs = QualitySnapshot.objects.filter(organization=self.organization)
        if "account" in q:
            qs = qs.filter(account_id=q["account"])
        if "since" in q:
            qs = qs.filter(day__gte=q["since"])
        if "until" in q:
            qs = qs.filter(day__lt=q["until"])
        rows, cursor = keyset_page(
            qs.order_by("-id"), tag="quality", key=None, desc=True, cursor=q.get("cursor"), limit=q["limit"]
        )
        return Response({"results": QualitySnapshotOutput(rows, many=True).data, "next_cursor": cursor})


# ==================================================================================================
# Notification events (the planner's decisions, issue #7)
# ==================================================================================================


class NotificationEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id", allow_null=True)
    kind = serializers.CharField(help_text="What happened (an Allegro order event or the seller's trigger).")
    source = serializers.CharField()
    order_id = serializers.CharField()
    buyer = serializers.CharField()
    state = serializers.CharField(help_text="planned, merged, suppressed, held, sent or dropped")
    reason = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    message = serializers.IntegerField(source="message_id", allow_null=True)


NotificationEventPage = _page_serializer("NotificationEventPage", NotificationEventOutput)


class NotificationEventListApi(MemberApi):
    class Query(PageQuery):
        state = StrictCharField(required=False, max_length=10)
        order_id = StrictCharField(required=False, max_length=100)

    @extend_schema(
        tags=["notifications"],
        parameters=[Query],
        responses=NotificationEventPage,
        summary="Notification events: what the planner did with each order event and trigger, newest first",
    )
    def get(self, request):
        from integrations.models import PlannedNotification

        q = self.query(self.Query)
        qs = PlannedNotification.objects.filter(organization=self.organization)
        if q.get("state"):
            qs = qs.filter(state=q["state"])
        if q.get("order_id"):
            qs = qs.filter(order_id=q["order_id"])
        rows, cursor = keyset_page(
            qs.order_by("-id"), tag="notif", key=None, desc=True, cursor=q.get("cursor"), limit=q["limit"]
        )
        return Response({"results": NotificationEventOutput(rows, many=True).data, "next_cursor": cursor})
