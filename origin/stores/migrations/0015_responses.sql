-- Responses kept for `previous_response_id`, `GET` and `DELETE /v1/responses/{id}`: per project,
-- the request's input items and the answer's output items (a conversation is the chain of both),
-- and the response object as it was returned. Rows past `expires_at` are gone to every reader and
-- are purged as new ones are stored.

CREATE TABLE responses (
    id                    text PRIMARY KEY,
    project_id            uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_id                uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    previous_response_id  text,
    input_items           jsonb NOT NULL,
    output_items          jsonb NOT NULL,
    response              jsonb NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL
);

CREATE INDEX responses_expires_at ON responses (expires_at);
