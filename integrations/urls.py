"""/webhooks/ (integrations/views.py). Object URLs use `pk` only (the tenancy tests fill it)."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_list, name="webhook-list"),
    path("<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("<int:pk>/toggle/", views.webhook_toggle, name="webhook-toggle"),
    path("<int:pk>/rotate-secret/", views.webhook_rotate_secret, name="webhook-rotate-secret"),
    path("<int:pk>/ping/", views.webhook_ping, name="webhook-ping"),
    path("<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("deliveries/<int:pk>/redeliver/", views.webhook_delivery_redeliver, name="webhook-redeliver"),
]
