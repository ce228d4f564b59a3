"""`manage.py api_key create|roll|revoke|list`: an API client's keys, Stripe-style."""

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from payments import services
from payments.models import ApiClient, ApiKey, ApiKeyScope

_DURATION = re.compile(r"(\d{1,6})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """'now', '30m', '24h' or '7d'."""
    if text == "now":
        return timedelta(0)
    match = _DURATION.fullmatch(text)
    if match is None:
        raise CommandError(f"{text!r}: a duration such as now, 30m, 24h or 7d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Create, roll, revoke and list API keys. A new key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="another key for a client")
        create.add_argument("client", help="the client's name")
        create.add_argument("--scope", choices=ApiKeyScope.values, default=ApiKeyScope.FULL)
        create.add_argument("--expires-in", help="e.g. 90d; default: never")
        roll = commands.add_parser("roll", help="a new key; the old one expires later")
        roll.add_argument("prefix", help="the old key's prefix as listed (psk_… / prk_…)")
        roll.add_argument("--expire-old-in", default="24h", help="now, 1h, 24h, 7d… (default 24h)")
        revoke = commands.add_parser("revoke", help="refuse a key from now on")
        revoke.add_argument("prefix")
        listing = commands.add_parser("list", help="a client's keys (prefixes only)")
        listing.add_argument("client")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            client = self._client(options["client"])
            expires_in = options["expires_in"]
            expires_at = timezone.now() + parse_duration(expires_in) if expires_in else None
            key, raw_key = services.create_api_key(
                client=client, scope=options["scope"], expires_at=expires_at
            )
            self._print_new(key, raw_key)
        elif action == "roll":
            old = self._key(options["prefix"])
            expires_at = timezone.now() + parse_duration(options["expire_old_in"])
            key, raw_key = services.roll_api_key(key=old, old_key_expires_at=expires_at)
            self.stdout.write(f"{old.prefix}… stops working at {expires_at.isoformat()}")
            self._print_new(key, raw_key)
        elif action == "revoke":
            key = self._key(options["prefix"])
            services.revoke_api_key(key=key)
            self.stdout.write(f"{key.prefix}… revoked")
        else:
            for key in self._client(options["client"]).keys.all():
                self.stdout.write(
                    f"{key.prefix}…  {key.scope:<9}  created {key.created_at:%Y-%m-%d %H:%M}  "
                    f"expires {key.expires_at or 'never'}  last used {key.last_used_at or 'never'}"
                    f"{'  REVOKED' if key.revoked_at else ''}"
                )

    def _print_new(self, key: ApiKey, raw_key: str) -> None:
        self.stdout.write(f"new {key.get_scope_display()} key, shown only this once:")
        self.stdout.write(self.style.SUCCESS(raw_key))

    def _client(self, name: str) -> ApiClient:
        client = ApiClient.objects.filter(name=name).first()
        if client is None:
            raise CommandError(f"no API client named {name!r}")
        return client

    def _key(self, prefix: str) -> ApiKey:
        keys = list(ApiKey.objects.filter(prefix=prefix.rstrip("…"))[:2])
        if len(keys) != 1:
            raise CommandError(f"{prefix!r} names {'no' if not keys else 'more than one'} key")
        return keys[0]
