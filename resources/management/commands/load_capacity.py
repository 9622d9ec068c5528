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
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="say what loading would do to the bookings (moves, displacements, the"
            " re-plan) and write nothing",
        )

    def handle(self, *args, file: Path, dry_run: bool = False, **options):
        try:
            text = self.stdin.read() if str(file) == "-" else file.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file}: not JSON: {exc}") from exc
        impacts: list[dict] = []
        try:
            counts = capacity_file_load(data=data, dry_run=dry_run, impacts=impacts)
        except DomainError as exc:
            raise CommandError(f"{file}: {exc}") from exc
        for impact in impacts:
            if dry_run or impact["leases"]:  # a dry run says every write; a load, what moved
                self._impact(impact)
        summary = ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in counts.items() if n)
        if dry_run:
            self.stdout.write(f"Dry run: would load {summary or 'nothing'}; nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Loaded {summary or 'nothing'} from {file}."))

    def _impact(self, impact: dict) -> None:
        counts = ", ".join(f"{n} {verdict}" for verdict, n in impact["counts"].items() if n)
        plan = impact["plan"]
        self.stdout.write(
            f"{impact['summary']}: {counts or 'no lease affected'}"
            f" (plan: {plan['method']}, shift {plan['score']['shift_steps']} steps,"
            f" {plan['score']['pool_changes']} pool changes)"
        )
        for row in impact["leases"]:
            new = f" → {row['new_start']} to {row['new_end']}" if row["verdict"] == "moved" else ""
            pools = "".join(f" [{p['from']} → {p['to']}]" for p in row["pools"])
            missing = f" (missing {row['missing']})" if row["missing"] else ""
            self.stdout.write(
                f"  {row['verdict']:9} {row['id']} {row['name'] or '-'} ({row['owner']},"
                f" {row['phase']}) {row['start']} to {row['end']}{new}{pools}{missing}"
            )
        for message in impact["messages"]:
            self.stdout.write(f"  {message}")
