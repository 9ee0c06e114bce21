from django.urls import path

from . import views

app_name = "allegro"

urlpatterns = [
    path("connect/", views.account_connect, name="connect"),
    path("claims/<int:pk>/decide/", views.claim_decide, name="claim-decide"),
]
