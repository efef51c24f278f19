"""Usage rows for the writer's, the spool's and the journal's tests."""

from typing import Any
from uuid import uuid4

from shared.usage import UsageRow

COUNT_IDS = "SELECT count(*) FROM usage_logs WHERE request_id = ANY($1::uuid[])"


def make_row(**changes: Any) -> UsageRow:
    ids = {"org_id": str(uuid4()), "project_id": str(uuid4()), "key_id": str(uuid4())}
    return UsageRow(**(ids | changes))
