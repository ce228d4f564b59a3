"""gunicorn's logger, minus secrets: no Basic-auth user, no query values we do not read.

`curl -u psk_...:` (the way Stripe's docs show keys) puts the key in the Basic-auth
user, which the default access log format prints as %(u)s; a key pasted in a query
string rode along in %(r)s. Every gunicorn log line also passes redact_secrets.
"""

import logging
from datetime import timedelta
from typing import Any

from gunicorn import glogging  # type: ignore[import-untyped]

from config.redaction import redact_query, redact_secrets

# The common log format without the user, with the time taken in microseconds.
ACCESS_LOG_FORMAT = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_secrets(record.getMessage())
        record.args = ()
        return True


class RedactingLogger(glogging.Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.addFilter(RedactSecretsFilter())

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        query = redact_query(environ.get("QUERY_STRING", ""))
        path = environ.get("PATH_INFO", "")
        atoms["u"] = "-"
        atoms["q"] = query
        atoms["r"] = (
            f"{environ.get('REQUEST_METHOD')} {path}{'?' + query if query else ''} "
            f"{environ.get('SERVER_PROTOCOL')}"
        )
        atoms["f"] = "-"  # a Referer can carry another site's query string
        # Header atoms (%({authorization}i)s) would print credentials: none are offered.
        return {
            name: value
            for name, value in atoms.items()
            if not (name.startswith("{") and name.endswith("}i"))
        }
