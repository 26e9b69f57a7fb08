import gc
import os

from django.core.wsgi import get_wsgi_application

from puppies import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
# Before the handler loads its middleware: Django's instrumentation adds one (OTEL_* only).
tracing.setup("puppies-web")
application = get_wsgi_application()
# What is loaded by now lives as long as the process: kept out of the collector's passes.
# A full pass over it (~130k objects) took 100-190 ms on this machine, a request's p99;
# with it frozen the same pass takes ~2 ms (bench/profile_requests.py prints the passes).
gc.freeze()
