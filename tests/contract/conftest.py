"""The real origin (tests/origin) and the whole topology with the local edge (tests/e2e), reused."""

from tests.e2e.conftest import topology
from tests.origin.conftest import _fresh_state, api_key, fake, fake_server, origin

__all__ = ["_fresh_state", "api_key", "fake", "fake_server", "origin", "topology"]
