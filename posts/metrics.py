"""Prometheus metrics of media uploads (web and worker processes alike)."""

from prometheus_client import Counter, Histogram

MEDIA_UPLOADS_STARTED = Counter(
    "puppies_media_uploads_started", "Upload links handed out, by kind (post, avatar).", ["kind"]
)
MEDIA_UPLOADS_COMPLETED = Counter(
    "puppies_media_uploads_completed", "Uploads checked, stored and in use, by kind.", ["kind"]
)
MEDIA_UPLOADS_REJECTED = Counter(
    "puppies_media_uploads_rejected",
    "Uploads refused, by kind and reason (wrong_type, not_an_image, too_many_pixels, damaged,"
    " too_slow, size_mismatch, missing, expired).",
    ["kind", "reason"],
)
MEDIA_CHECK_SECONDS = Histogram(
    "puppies_media_check_duration_seconds",
    "Time to check, clean and store one uploaded image (in the worker), by kind.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
