import re

from django.conf import settings
from django.contrib import admin
from django.http import Http404
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from posts.media.files import PUBLIC_PREFIXES
from puppies import health, metrics, ops_views

# Resolved in this order: the hottest routes (the feed, then posts) are tried first.
api_v1 = [
    path("", include("feed.urls")),
    path("", include("posts.urls")),
    path("", include("interactions.urls")),
    path("", include("users.urls")),
    path("", include("ingestion.urls")),
    path("ops/summary", ops_views.OpsSummaryView.as_view(), name="ops-summary"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    path("v1/", include(api_v1)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/ops/", admin.site.admin_view(ops_views.admin_status), name="admin-ops"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
]


def serve_media(request, path: str):
    # Checked files only: not a client's unchecked bytes (incoming/), nor the files of
    # hidden and deleted posts (hidden/), which posts.media moves out of these folders.
    if not path.startswith(PUBLIC_PREFIXES):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)


if settings.SERVE_MEDIA:  # local runs; production serves MEDIA_URL from the bucket
    urlpatterns.append(
        re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.+)$", serve_media)
    )

handler400 = "puppies.errors.bad_request"
handler403 = "puppies.errors.permission_denied"
handler404 = "puppies.errors.not_found"
handler500 = "puppies.errors.server_error"
