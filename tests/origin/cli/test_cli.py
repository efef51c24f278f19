"""The ``prism`` command, run as a real process against the test database."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from origin.settings import Settings


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PRISM_DATABASE_URL": settings.database_url,
        "PRISM_REDIS_URL": settings.redis_url,
        "PRISM_KEY_PEPPER": settings.key_pepper,
        "PRISM_INGEST_SECRET": settings.ingest_secret,
        "PRISM_DASHBOARD_SECRET": settings.dashboard_secret,
        "PRISM_SPOOL_DIR": tempfile.mkdtemp(prefix="prism-spool-"),
        **extra,
    }


def _prism(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args],
        env=_env(settings, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.usefixtures("migrated")
def test_keys_create_list_revoke(base_settings: Settings) -> None:
    created = _prism(base_settings, "keys", "create", "--project", "cli-proj", "--org", "cli-org")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("prism_sk_")
    prefix = key[:17]

    listed = _prism(base_settings, "keys", "list")
    assert prefix in listed.stdout and key not in listed.stdout and "cli-org/cli-proj" in listed.stdout

    assert _prism(base_settings, "keys", "revoke", prefix).returncode == 0
    again = _prism(base_settings, "keys", "revoke", prefix)
    assert again.returncode == 1 and "no active key" in again.stderr


@pytest.mark.usefixtures("migrated")
def test_keys_are_created_with_their_own_limits(base_settings: Settings) -> None:
    created = _prism(
        base_settings,
        *("keys", "create", "--project", "cli-limited", "--org", "cli-org", "--budget-cents", "500"),
        *("--rpm", "60", "--tpm", "20000", "--models", "gpt-4o*, claude-*", "--expires", "2099-01-31"),
    )
    assert created.returncode == 0, created.stderr
    described = "budget 500¢/month; 60 rpm; 20000 tpm; models gpt-4o*,claude-*; expires 2099-01-31 00:00Z"
    assert f"limits: {described}" in created.stdout
    prefix = created.stdout.strip().splitlines()[-1][:17]
    listed = next(
        line for line in _prism(base_settings, "keys", "list").stdout.splitlines() if prefix in line
    )
    assert listed.split("\t")[1] == "active" and listed.endswith(described)
    for flag, value, why in [
        ("--expires", "soonish", "neither a span"),
        ("--expires", "2001-01-01", "already past"),
        ("--rpm", "0", "not a positive whole number"),
        ("--models", " , ", "at least one model"),
    ]:
        refused = _prism(base_settings, "keys", "create", "--project", "cli-limited", flag, value)
        assert refused.returncode == 2 and why in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.usefixtures("migrated")
def test_migrate_twice_is_safe(base_settings: Settings) -> None:
    result = _prism(base_settings, "migrate")
    assert result.returncode == 0 and "up to date" in result.stdout


def test_bad_setting_is_one_line_not_a_traceback(base_settings: Settings) -> None:
    result = _prism(base_settings, "migrate", PRISM_PORT="eighty")
    assert result.returncode == 2
    assert result.stderr.strip() == "prism: PRISM_PORT='eighty' is not a valid int"


@pytest.mark.parametrize(
    ("secrets", "line"),
    [
        (
            {"PRISM_INGEST_SECRET": ""},
            "prism: PRISM_INGEST_SECRET is not set: generate one with `openssl rand -hex 32` "
            "(or set PRISM_ENV=development locally)",
        ),
        (
            {"PRISM_KEY_PEPPER": "dev-pepper-not-for-production"},
            "prism: PRISM_KEY_PEPPER is a published development value: "
            "generate one with `openssl rand -hex 32`",
        ),
    ],
)
def test_serve_refuses_to_start_without_real_secrets(
    base_settings: Settings, secrets: dict[str, str], line: str
) -> None:
    result = _prism(base_settings, "serve", "--port", str(_free_port()), PRISM_ENV="", **secrets)
    assert (result.returncode, result.stderr.strip()) == (2, line)


def test_unreachable_postgres_is_one_line(base_settings: Settings) -> None:
    result = _prism(
        base_settings, "keys", "list", PRISM_DATABASE_URL="postgresql://postgres@127.0.0.1:1/prism"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "cannot reach" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.usefixtures("migrated")
def test_serve_answers_healthz(base_settings: Settings) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "origin.cli", "serve", "--port", str(port)],
        env=_env(base_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "prism serve did not answer in 20 s"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
