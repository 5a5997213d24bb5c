-- The audit trail beyond ACLs, and what retention needs.
--
-- acl_audit becomes audit_event: one table for every recorded change, each written in the
-- transaction of the change it records. `subject_type`/`subject_id` name what changed
-- (connected_account, auth_config, api_key); `connected_account_id` stays set for account events
-- (the account's audit endpoint reads it, and purging the account removes its events by cascade);
-- `details` holds what the kind needs beyond the ACL columns (JSON).
alter table acl_audit rename to audit_event;
alter table audit_event drop constraint acl_audit_kind_check;
alter table audit_event alter column connected_account_id drop not null;
alter table audit_event
    add column subject_type text not null default 'connected_account',
    add column subject_id text,
    add column details jsonb;
update audit_event set subject_id = connected_account_id;
alter table audit_event
    alter column subject_type drop default,
    alter column subject_id set not null,
    add constraint audit_event_subject_type check (subject_type in ('connected_account', 'auth_config', 'api_key')),
    add constraint audit_event_kind check (kind in (
        'acl_change', 'access_decision', 'account_deleted', 'account_credentials_updated', 'account_expired',
        'auth_config_created', 'api_key_created', 'api_key_revoked'));
alter index acl_audit_by_account rename to audit_event_by_account;
create index audit_event_by_subject on audit_event (project_id, subject_type, subject_id, id desc);
-- Retention: audit rows older than AUTHLINK_RETENTION_AUDIT_DAYS, spent links and states,
-- soft-deleted sessions and accounts, each found by index.
create index audit_event_by_created on audit_event (created_at);
create index link_by_expiry on link (expires_at);
create index link_by_consumed on link (consumed_at) where consumed_at is not null;
create index link_by_session on link (session_id) where session_id is not null;
create index oauth_state_by_expiry on oauth_state (expires_at);
create index oauth_state_by_link on oauth_state (link_token_hash);
create index tool_router_session_deleted on tool_router_session (deleted_at) where deleted_at is not null;
create index connected_account_deleted on connected_account (deleted_at) where deleted_at is not null;
