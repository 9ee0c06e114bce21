from django.urls import path

from sla import views as sla_views

from . import api_token_views, attachment_views, views

app_name = "inbox"

urlpatterns = [
    path("", views.conversation_list, name="conversation-list"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation-detail"),
    path("c/<int:pk>/thread/", views.conversation_thread, name="conversation-thread"),
    path("c/<int:pk>/reply/", views.conversation_reply, name="conversation-reply"),
    path("c/<int:pk>/assign/", views.conversation_assign, name="conversation-assign"),
    path("c/<int:pk>/close/", views.conversation_close, name="conversation-close"),
    path("c/<int:pk>/reopen/", views.conversation_reopen, name="conversation-reopen"),
    path("c/<int:pk>/messages/<int:message_pk>/retry/", views.message_retry, name="message-retry"),
    path("c/<int:pk>/messages/<int:message_pk>/undo/", views.message_undo, name="message-undo"),
    path(
        "c/<int:pk>/no-reply-needed/", views.conversation_no_reply_needed, name="conversation-no-reply-needed"
    ),
    path("attachments/<int:pk>/", attachment_views.attachment_download, name="attachment-download"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/<int:pk>/sync/", views.account_sync_now, name="account-sync"),
    # API tokens (issue #8, inbox/api_token_views.py).
    path("api-tokens/", api_token_views.api_token_list_view, name="api-tokens"),
    path("api-tokens/<int:pk>/revoke/", api_token_views.api_token_revoke_view, name="api-token-revoke"),
    # Reply deadlines (sla/views.py).
    path("sla/policies/", sla_views.policy_list, name="sla-policies"),
    path("sla/policies/days-off/", sla_views.day_off_add, name="sla-day-off-add"),
    path("sla/policies/days-off/<int:pk>/delete/", sla_views.day_off_delete, name="sla-day-off-delete"),
    path("sla/alerts/", sla_views.alert_list, name="sla-alerts"),
    path("sla/alerts/read/", sla_views.alerts_read, name="sla-alerts-read"),
    path("sla/alerts/<int:pk>/read/", sla_views.alert_read, name="sla-alert-read"),
    path("sla/metrics/", sla_views.metrics_board, name="sla-metrics"),
    path(
        "sla/metrics/team/<str:figure>/<str:dimension>/<str:key>/",
        sla_views.metrics_team,
        name="sla-metrics-team",
    ),
    path("sla/quality/", sla_views.quality_board, name="sla-quality"),
    path("sla/quality/import/", sla_views.quality_import_now, name="sla-quality-import"),
    path("sla/quality/config/", sla_views.quality_config, name="sla-quality-config"),
    path("sla/quality/lost/<str:dimension>/<str:key>/", sla_views.quality_lost, name="sla-quality-lost"),
    path("sla/summary/", sla_views.summary_settings, name="sla-summary"),
    path("sla/summary/print/", sla_views.summary_print, name="sla-summary-print"),
]
