FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SETTINGS_MODULE=puppies.settings python manage.py collectstatic --noinput
RUN useradd --create-home --uid 10001 puppies && mkdir -p .local && chown puppies .local
USER puppies
EXPOSE 8000
# gthread: an idle keep-alive connection waits in the worker's poller, not in a thread
# (README, "Slow clients"); a buffering proxy in front is still the production setup.
CMD ["sh", "-c", "exec gunicorn puppies.wsgi --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --worker-class gthread --threads ${WEB_THREADS:-4} --timeout 30 --access-logfile -"]
