from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = "Bookings"

    def ready(self) -> None:
        # Make the project's Celery app current, so that tasks enqueued from web processes
        # go to our Redis broker.
        import scheduler.celery  # noqa: F401, PLC0415 — a start-up side effect: ready() is its place
