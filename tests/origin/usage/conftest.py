from collections.abc import AsyncIterator

import pytest

from origin.stores.migrate import migrate
from tests.pgcluster import TempPostgres


@pytest.fixture(scope="module")
async def temp_pg() -> AsyncIterator[TempPostgres]:
    """A Postgres of the module's own, which its tests may stop, freeze and start again."""
    with TempPostgres() as pg:
        await migrate(pg.url)
        yield pg
