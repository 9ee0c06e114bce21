from django.urls import path

from . import views

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
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/connect/allegro/", views.account_connect_allegro, name="account-connect-allegro"),
    path("accounts/<int:pk>/sync/", views.account_sync_now, name="account-sync"),
]
