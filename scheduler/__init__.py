"""Project wiring (settings, urls, Celery app) and the Django-free planning engine."""
