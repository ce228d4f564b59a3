"""A Stripe-compatible fake HTTP server for tests, demos and chaos runs (stdlib only)."""

from .config import ServerConfig
from .server import BackgroundServer, run, serve_in_background

__all__ = ["BackgroundServer", "ServerConfig", "run", "serve_in_background"]
