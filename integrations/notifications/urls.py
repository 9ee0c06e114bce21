"""/notifications/ (integrations/notifications/views.py). Object URLs use `pk` only (tenancy tests)."""

from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="notification-list"),
    path("trigger/", views.notification_trigger, name="notification-trigger"),
    path("settings/", views.notification_settings, name="notification-settings"),
    path("templates/", views.template_list, name="template-list"),
    path("<int:pk>/release/", views.notification_release, name="notification-release"),
    path("<int:pk>/drop/", views.notification_drop, name="notification-drop"),
]
