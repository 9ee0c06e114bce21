from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from inbox.auth_views import RateLimitedLoginView

from . import ops

urlpatterns = [
    path("login/", RateLimitedLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Operations (config/ops.py): liveness, readiness, Prometheus.
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # The public API, its OpenAPI 3 schema and the docs pages (assets vendored by the sidecar).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="inbox/api_redoc.html"),
        name="api-redoc",
    ),
    path("api/v1/", include("inbox.api_urls")),
    path("webhooks/", include("integrations.urls")),
    path("mailboxes/", include("integrations.email.urls")),
    path("allegro/", include("integrations.allegro.urls")),
    path("notifications/", include("integrations.notifications.urls")),
    path("", include("inbox.urls")),
]
