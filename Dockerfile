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
CMD ["gunicorn", "puppies.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
