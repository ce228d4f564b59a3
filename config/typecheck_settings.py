"""Settings for mypy's Django plugin: the development ones (production refuses dev secrets)."""

import os

os.environ.setdefault("DEBUG", "True")

from config.settings import *  # noqa: F403
