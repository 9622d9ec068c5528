import json

from django.core.management.base import BaseCommand

from resources.domain.capacity_file import capacity_file_dump


class Command(BaseCommand):
    help = "Write the inventory and all leases as a capacity file (the format load_capacity reads)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(capacity_file_dump(), indent=2, ensure_ascii=False))
