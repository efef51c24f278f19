-- Whether the origin sends OpenAI a prompt_cache_key derived from the project and the session (on
-- by default, as ProjectSettings has it): a session's turns then reach the provider's cache that
-- holds their prefix.

ALTER TABLE project_settings ADD COLUMN prompt_cache_key boolean NOT NULL DEFAULT true;
