"""`wrangler deploy --dry-run` (offline) bundles edge/ and shared/ and nothing else."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.edge.local_edge import REPO_ROOT, node_missing

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))

WRANGLER = REPO_ROOT / "node_modules" / ".bin" / "wrangler"
MAIN = "edge/entry.py"


def source_modules() -> dict[str, bytes]:
    """edge/ and shared/ as wrangler names them: the main module by its basename, the rest by path."""
    modules = {}
    for package in ("edge", "shared"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name = path.relative_to(REPO_ROOT).as_posix()
            modules[Path(MAIN).name if name == MAIN else name] = path.read_bytes()
    return modules


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    assert WRANGLER.exists(), "wrangler is not installed: run `make setup`"
    outdir = tmp_path_factory.mktemp("dry-run")
    env = os.environ | {
        "WRANGLER_SEND_METRICS": "false",
        "CI": "true",
        "WRANGLER_LOG_PATH": str(outdir.parent / "wrangler-logs"),
    }
    done = subprocess.run(
        [str(WRANGLER), "deploy", "--dry-run", "--outdir", str(outdir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return outdir, done.stdout


def test_the_bundle_is_exactly_edge_and_shared(dry_run: tuple[Path, str]) -> None:
    outdir, _ = dry_run
    uploaded = {
        path.relative_to(outdir).as_posix(): path.read_bytes()
        for path in outdir.rglob("*")
        if path.is_file() and path.name != "README.md"  # wrangler's note about the folder
    }
    assert sorted(uploaded) == sorted(source_modules())
    assert uploaded == source_modules()


def test_the_listing_names_only_edge_and_shared(dry_run: tuple[Path, str]) -> None:
    _, output = dry_run
    listed = {cell for line in output.splitlines() for cell in line.split() if cell.endswith(".py")}
    # The table lists the modules besides the main one; nothing from origin/, tests/, .venv/ …
    assert listed == set(source_modules()) - {Path(MAIN).name}


def test_the_bindings_are_declared(dry_run: tuple[Path, str]) -> None:
    _, output = dry_run
    assert "env.KV (" in output
    assert 'env.ORIGIN_URL ("https://origin.example.com")' in output
