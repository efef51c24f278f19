-- A key's own limits, checked together with its project's (the tightest wins): a monthly budget in
-- cents, requests and tokens per minute, the models it may use (globs), and when it stops working.
-- NULL (or an empty list of models) is no limit of its own.

ALTER TABLE api_keys
    ADD COLUMN budget_cents bigint CHECK (budget_cents > 0),
    ADD COLUMN rpm integer CHECK (rpm > 0),
    ADD COLUMN tpm integer CHECK (tpm > 0),
    ADD COLUMN models text[] NOT NULL DEFAULT '{}',
    ADD COLUMN expires_at timestamptz;

-- A key reads its own month (GET /v1/usage/summary).
CREATE INDEX usage_logs_key_time ON usage_logs (key_id, created_at);
