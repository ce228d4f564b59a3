"""With DEBUG off the service must not run on the secrets a laptop uses."""

from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured


def refuse_development_secrets(secrets: Iterable[tuple[str, str, str]], secret_key: str) -> None:
    """`secrets`: (setting name, value, its development default); raises on any left as is."""
    insecure = [name for name, value, dev_value in secrets if not value or value == dev_value]
    if len(secret_key) < 32 and "SECRET_KEY" not in insecure:
        insecure.append("SECRET_KEY (shorter than 32 characters)")
    if insecure:
        raise ImproperlyConfigured(
            "DEBUG=False needs real secrets in the environment; missing or development "
            "values for: " + ", ".join(insecure)
        )
