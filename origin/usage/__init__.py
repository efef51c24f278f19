"""Usage accounting off the request path: one background writer, batched, backed by a disk spool."""
