FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY importer ./importer
COPY web ./web
COPY migrations ./migrations
COPY worker.py alembic.ini gunicorn.conf.py ./
RUN pip install --no-cache-dir -e .
EXPOSE 8000 5555
ENV IMPORTER_BIND=0.0.0.0:8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "web:create_app()"]
