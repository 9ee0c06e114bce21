from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("conversations/", api.ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="conversation-detail"),
    path("conversations/<int:pk>/reply/", api.ConversationReplyApi.as_view(), name="conversation-reply"),
]
