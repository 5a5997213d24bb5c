-- API keys an operator can manage (issue 11 item 7): a name to tell them apart, when each was
-- last used (written at most about once a minute per key, not on every request), and an optional
-- expiry after which the key answers 401 APIKey_APIKeyExpired.
alter table api_key add column name text not null default '';
alter table api_key add column last_used_at timestamptz;
alter table api_key add column expires_at timestamptz;

-- The listings (per project, newest first).
create index api_key_by_project on api_key (project_id, created_at desc, id desc);
