"""Post images and avatars: upload links, the check in a worker, storage and cleanup.

- `images`: checking and cleaning an image (pure, no I/O).
- `links`: where and how a client sends a file (a signed local link, or an S3 presigned POST).
- `files`: what storage holds: names, moving hidden posts' files out of reach, deleting.
- `services`: the writes of the flow; `posts.tasks` runs the slow ones in Celery.

Every file goes through `default_storage`, so the bucket is configuration (MEDIA_STORAGE).
"""
