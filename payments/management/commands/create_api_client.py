"""`manage.py create_api_client NAME`: create an API client and print its key once."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments import services
from payments.models import ApiClient, ApiKeyScope


class Command(BaseCommand):
    help = "Create an API client and print its API key (shown once, stored only as a hash)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--email", default="", help="contact address for the welcome email")
        parser.add_argument(
            "--rotate-if-exists",
            action="store_true",
            help="if the client exists, give it a new key instead of failing",
        )
        parser.add_argument("--quiet-key", action="store_true", help="print only the key")
        parser.add_argument(
            "--scope",
            choices=ApiKeyScope.values,
            default=ApiKeyScope.FULL,
            help="a restricted first key: read_only, or payments (no refunds)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        if not name:
            raise CommandError("NAME must not be empty")
        existing = ApiClient.objects.filter(name=name).first()
        if existing is not None:
            if not options["rotate_if_exists"]:
                raise CommandError(
                    f"an API client named {name!r} exists; use --rotate-if-exists for a new key"
                )
            raw_key = services.rotate_api_key(client=existing)
        else:
            _, raw_key = services.create_api_client(
                name=name, contact_email=options["email"], scope=options["scope"]
            )
        if options["quiet_key"]:
            self.stdout.write(raw_key)
            return
        self.stdout.write(f"API client {name!r} ready. Its key, shown only this once:")
        self.stdout.write(self.style.SUCCESS(raw_key))
