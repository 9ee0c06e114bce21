from django.urls import path

from . import views

app_name = "allegro"

urlpatterns = [
    path("claims/<int:pk>/decide/", views.claim_decide, name="claim-decide"),
]
