"""The deploy files name only settings that exist, and the unit runs the ASGI entry that exists."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from origin.settings import Settings, SettingsError

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_env_example_names_only_real_settings() -> None:
    known = {f"PRISM_{spec.name.upper()}" for spec in fields(Settings)}
    names = re.findall(r"^(PRISM_[A-Z_]+)=", (DEPLOY / "prism.env.example").read_text(), re.MULTILINE)
    assert names
    for name in names:
        assert name in known or re.fullmatch(r"PRISM_PROVIDER_[A-Z0-9_]+_API_KEY", name), name


def test_unit_uses_environment_file_and_prism_serve() -> None:
    unit = (DEPLOY / "prism-origin.service").read_text()
    assert "EnvironmentFile=/etc/prism/prism.env" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.split()[1:] == ["serve"] and exec_start.endswith("/bin/prism serve")


def test_env_example_cannot_start_until_its_secrets_are_filled_in() -> None:
    lines = (DEPLOY / "prism.env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if re.match(r"^PRISM_[A-Z_]+=", line))
    assert example["PRISM_ENV"] == "production"
    with pytest.raises(SettingsError, match=r"^PRISM_KEY_PEPPER is not set: generate one with"):
        Settings.from_env(example)
    with pytest.raises(SettingsError, match=r"^PRISM_INGEST_SECRET is not set: generate one with"):
        Settings.from_env({**example, "PRISM_KEY_PEPPER": "0123456789abcdef0123"})
    with pytest.raises(SettingsError, match=r"^PRISM_DASHBOARD_SECRET is not set: generate one with"):
        Settings.from_env(
            {**example, "PRISM_KEY_PEPPER": "0123456789abcdef0123", "PRISM_INGEST_SECRET": "fedcba9876543210"}
        )


def test_asgi_entry_builds_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_ENV", "development")
    import origin.asgi  # for other ASGI servers: `hypercorn origin.asgi:app`

    assert origin.asgi.app is not None


def test_the_template_unit_gives_each_instance_its_port_and_spool() -> None:
    unit = (DEPLOY / "prism-origin@.service").read_text()
    assert "EnvironmentFile=/etc/prism/prism.env" in unit
    assert "ExecStart=/opt/prism/.venv/bin/prism serve" in unit
    environment = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in unit.splitlines()
        if line.startswith("Environment=")
    )
    assert environment == {
        "PRISM_HOST": "127.0.0.1",
        "PRISM_PORT": "%i",
        "PRISM_SPOOL_DIR": "/var/lib/prism/%i",
    }
    assert Settings.from_env({"PRISM_ENV": "development", "PRISM_PORT": "8101"}).port == 8101
    assert {f"PRISM_{spec.name.upper()}" for spec in fields(Settings)} >= set(environment)
