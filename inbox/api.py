"""JSON API (DRF). `<Entity><Action>Api` views with nested serializers; logic stays in services."""

from __future__ import annotations

import uuid

from django.http import Http404
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .forms import MAX_REPLY_LENGTH
from .models import Conversation, Message


class IsMember(IsAuthenticated):
    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if getattr(request, "membership", None) is None:
            raise Http404
        return True


class MemberApi(APIView):
    permission_classes = [IsMember]

    @property
    def organization(self):
        return self.request.membership.organization


class ConversationOutput(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name")
    assignee = serializers.CharField(source="assignee.username", default=None)

    class Meta:
        model = Conversation
        fields = [
            "id", "kind", "external_id", "subject", "status", "account", "assignee", "order_id", "offer_id",
            "marketplace_state", "last_message_at", "last_inbound_at", "last_outbound_at", "awaiting_reply_since",
        ]


class MessageOutput(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id", "direction", "author_type", "author_name", "text", "source_created_at", "delivery_status",
            "failure_reason", "external_id",
        ]


class ConversationListApi(MemberApi):
    def get(self, request):
        qs = selectors.conversation_list(
            organization=self.organization,
            user=request.user,
            filter_name=request.query_params.get("filter", "all"),
            kind=request.query_params.get("kind", ""),
            limit=min(int(request.query_params.get("limit", 50) or 50), 200),
        )
        return Response({"results": ConversationOutput(qs, many=True).data})


class ConversationDetailApi(MemberApi):
    def get(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        data = ConversationOutput(conversation).data
        data["messages"] = MessageOutput(selectors.message_list_for_conversation(conversation), many=True).data
        return Response(data)


class ConversationReplyApi(MemberApi):
    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=MAX_REPLY_LENGTH)

    def post(self, request, pk: int):
        conversation = selectors.conversation_get(organization=self.organization, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        raw_key = request.headers.get("Idempotency-Key")
        # Any client string maps to one UUID per organization, so keys never collide across tenants.
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"replydesk:{self.organization.pk}:{raw_key}") if raw_key else None
        try:
            message, created = services.message_reply_create(
                conversation, text=data.validated_data["text"], acting_user=request.user, idempotency_key=key
            )
        except PermissionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
