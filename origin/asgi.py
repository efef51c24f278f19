"""ASGI entry for ``hypercorn origin.asgi:app`` (the systemd unit uses it)."""

from origin.app import create_app
from origin.settings import Settings

app = create_app(Settings.from_env())
