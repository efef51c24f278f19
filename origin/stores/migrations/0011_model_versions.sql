-- What answered each request, in the provider's words (OpenAI's system_fingerprint, Anthropic's dated
-- model id), so the provider-cache report can find the moment it changed and the cache emptied.

ALTER TABLE usage_logs ADD COLUMN model_version text;
