import os

from django.core.wsgi import get_wsgi_application

from puppies import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
# Before the handler loads its middleware: Django's instrumentation adds one (OTEL_* only).
tracing.setup("puppies-web")
application = get_wsgi_application()
