-- Whether requests whose prompt holds personal data (e-mail addresses, phone numbers, card numbers,
-- IBANs: origin.controls.pii) skip Prism's caches and session memory. Off by default; on with
-- `prism project set --pii-guard on`.

ALTER TABLE project_settings ADD COLUMN pii_guard boolean NOT NULL DEFAULT false;
