from django.urls import path

from . import views

app_name = "mailboxes"

urlpatterns = [
    path("", views.mailbox_list, name="mailbox-list"),
    path("new/", views.mailbox_create, name="mailbox-create"),
    path("test/", views.mailbox_test, name="mailbox-test"),
    path("<int:pk>/", views.mailbox_edit, name="mailbox-edit"),
    path("<int:pk>/test/", views.mailbox_test_existing, name="mailbox-test-existing"),
]
