-- Provider cache writes, by how long the provider keeps them (Anthropic bills 5-minute and 1-hour
-- writes at different prices). Like tokens_cached_in they are part of tokens_in, never added to it.
-- A constant default: no existing row is rewritten.

ALTER TABLE usage_logs
    ADD COLUMN tokens_cache_write_5m integer NOT NULL DEFAULT 0,
    ADD COLUMN tokens_cache_write_1h integer NOT NULL DEFAULT 0;
