"""The origin's stores: Postgres, Redis and (later) Workers KV."""
