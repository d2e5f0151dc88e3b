"""Celery entry point: ``celery -A worker worker -E``."""

from importer.celery_app import create_celery

app = create_celery()
