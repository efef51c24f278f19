"""The chat pipeline and its stages: the ledger (the request's usage row), routing, streaming."""
