"""Contracts shared by the edge and the origin: pure stdlib, no I/O."""
