import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bookings.domain.errors import DomainError
from resources.domain.capacity_file import capacity_file_load


class Command(BaseCommand):
    help = (
        "Load sites, pools, capacity changes, datasets, templates and leases from a JSON file,"
        " all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the capacity file (DESIGN §7); - for stdin")

    def handle(self, *args, file: Path, **options):
        try:
            text = self.stdin.read() if str(file) == "-" else file.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file}: not JSON: {exc}") from exc
        try:
            counts = capacity_file_load(data=data)
        except DomainError as exc:
            raise CommandError(f"{file}: {exc}") from exc
        summary = ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in counts.items() if n)
        self.stdout.write(self.style.SUCCESS(f"Loaded {summary or 'nothing'} from {file}."))
