"""`manage.py fakestripe`: run the Stripe-compatible fake server on 127.0.0.1."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from fakestripe import config, run


class Command(BaseCommand):
    help = "Run the Stripe-compatible fake server (see docs/fakestripe.md)."
    # The fake needs neither the database nor the project's checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        config.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run(config.config_from_options(options))
