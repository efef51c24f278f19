"""``prism users``, run as real processes against the test database."""

import subprocess
import uuid

import pytest

from origin.dashboard.passwords import verify_password
from origin.settings import Settings
from origin.stores import controls, postgres, users
from tests.origin.helpers import run_cli

pytestmark = pytest.mark.usefixtures("migrated")
PASSWORD = "correct horse battery"


def _create(settings: Settings, org: str, email: str, password: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        settings, "users", "create", "--org", org, "--email", email, "--password-stdin", stdin=password
    )


def _address() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


async def test_create_makes_the_org_and_stores_only_a_slow_hash(
    base_settings: Settings, pool: postgres.Pool
) -> None:
    org, address = f"users-{uuid.uuid4().hex[:8]}", _address()
    created = _create(base_settings, org, address, PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert await controls.find_org(pool, org) is not None
    stored = await users.find_credentials(pool, address.upper())
    assert stored is not None and stored.email == address
    assert stored.password_hash.startswith("scrypt$") and PASSWORD not in stored.password_hash
    assert verify_password(PASSWORD, stored.password_hash)
    assert not verify_password(PASSWORD + "!", stored.password_hash)


def test_an_address_is_one_user_whatever_its_case(base_settings: Settings) -> None:
    address = _address()
    first = _create(base_settings, "users-a", address, PASSWORD)
    assert first.returncode == 0, first.stderr
    again = _create(base_settings, "users-b", address.upper(), PASSWORD)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_list_by_org_and_remove(base_settings: Settings) -> None:
    org, address = f"users-{uuid.uuid4().hex[:8]}", _address()
    assert _create(base_settings, org, address, PASSWORD).returncode == 0
    listed = run_cli(base_settings, "users", "list", "--org", org).stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{address}\t{org}\t")
    assert address in run_cli(base_settings, "users", "list").stdout
    assert run_cli(base_settings, "users", "remove", "--email", address.upper()).returncode == 0
    assert run_cli(base_settings, "users", "list", "--org", org).stdout == ""
    gone = run_cli(base_settings, "users", "remove", "--email", address)
    assert gone.returncode == 1 and "no user" in gone.stderr


@pytest.mark.parametrize(
    ("email", "password", "code", "message"),
    [
        ("not-an-address", PASSWORD, 2, "is not an email address"),
        ("bob@example.com", "short", 1, "a password has 10 to 1024 characters"),
    ],
)
def test_bad_input_is_refused_in_one_line(
    base_settings: Settings, email: str, password: str, code: int, message: str
) -> None:
    result = _create(base_settings, "x", email, password)
    assert result.returncode == code and message in result.stderr and "Traceback" not in result.stderr
