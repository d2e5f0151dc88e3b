FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY importer ./importer
COPY web ./web
COPY migrations ./migrations
COPY worker.py alembic.ini ./
RUN pip install --no-cache-dir -e .
EXPOSE 8000 5555
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--logger-class", "importer.logging_setup.GunicornLogger", "web:create_app()"]
