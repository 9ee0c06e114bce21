"""/api/v1/ (the public API, inbox/api.py). Object URLs use `pk` / `message_pk` only: the tenancy
tests fill those names with another organization's ids and expect 404 everywhere."""

from django.urls import path, re_path

from . import api

app_name = "api"

urlpatterns = [
    path("me/", api.MeDetailApi.as_view(), name="me"),
    path("members/", api.MemberListApi.as_view(), name="member-list"),
    path("conversations/", api.ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="conversation-detail"),
    path("conversations/<int:pk>/reply/", api.ConversationReplyApi.as_view(), name="conversation-reply"),
    path("conversations/<int:pk>/assign/", api.ConversationAssignApi.as_view(), name="conversation-assign"),
    path("conversations/<int:pk>/close/", api.ConversationCloseApi.as_view(), name="conversation-close"),
    path("conversations/<int:pk>/reopen/", api.ConversationReopenApi.as_view(), name="conversation-reopen"),
    path(
        "conversations/<int:pk>/no-reply-needed/",
        api.ConversationNoReplyNeededApi.as_view(),
        name="conversation-no-reply-needed",
    ),
    path("conversations/<int:pk>/messages/", api.MessageListApi.as_view(), name="message-list"),
    path(
        "conversations/<int:pk>/messages/<int:message_pk>/",
        api.MessageDetailApi.as_view(),
        name="message-detail",
    ),
    path(
        "conversations/<int:pk>/messages/<int:message_pk>/retry/",
        api.MessageRetryApi.as_view(),
        name="message-retry",
    ),
    path("contacts/", api.ContactListApi.as_view(), name="contact-list"),
    path("contacts/<int:pk>/", api.ContactDetailApi.as_view(), name="contact-detail"),
    path("sla/policies/", api.SlaPolicyListApi.as_view(), name="sla-policy-list"),
    path("sla/response-records/", api.ResponseRecordListApi.as_view(), name="response-record-list"),
    path(
        "sla/response-records/<int:pk>/", api.ResponseRecordDetailApi.as_view(), name="response-record-detail"
    ),
    path("sla/metrics/", api.SlaMetricsApi.as_view(), name="sla-metrics"),
    path("quality/snapshots/", api.QualitySnapshotListApi.as_view(), name="quality-snapshot-list"),
    path("notifications/events/", api.NotificationEventListApi.as_view(), name="notification-event-list"),
    # Anything else under /api/v1/: a JSON 404 in the API's error shape.
    re_path(r"^[\s\S]*$", api.api_not_found, name="not-found"),
]
