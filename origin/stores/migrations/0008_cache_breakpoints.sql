-- Whether the origin marks the end of the tools and the system prompt as cache breakpoints on
-- requests it sends Anthropic (on by default: without a breakpoint Anthropic caches nothing; a
-- project turns it off with `prism project set --cache-breakpoints off`).

ALTER TABLE project_settings ADD COLUMN cache_breakpoints boolean NOT NULL DEFAULT true;
