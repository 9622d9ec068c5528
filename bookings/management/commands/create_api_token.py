from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from bookings.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a user (created if needed). Prints only the token."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="user name")
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args, user: str, name: str, **options):
        account, _ = get_user_model().objects.get_or_create(username=user)
        _, key = ApiToken.issue(user=account, name=name)
        self.stdout.write(key)
