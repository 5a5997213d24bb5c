-- SQLite twin of migrations/postgres/20261201000002_retention_audit.sql: acl_audit becomes
-- audit_event (SQLite cannot drop a check constraint, so the table is rebuilt and its rows copied,
-- ids kept), and the indexes retention uses.
create table audit_event (
    id                    integer primary key autoincrement,
    project_id            text not null references project (id) on delete cascade,
    connected_account_id  text references connected_account (id) on delete cascade,
    kind                  text not null check (kind in (
        'acl_change', 'access_decision', 'account_deleted', 'account_credentials_updated', 'account_expired',
        'auth_config_created', 'api_key_created', 'api_key_revoked')),
    subject_type          text not null check (subject_type in ('connected_account', 'auth_config', 'api_key')),
    subject_id            text not null,
    api_key_id            text references api_key (id) on delete set null,
    old_acl               text,
    new_acl               text,
    user_id               text,
    session_id            text,
    allowed               integer,
    rule                  text,
    details               text,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
insert into audit_event (id, project_id, connected_account_id, kind, subject_type, subject_id, api_key_id, old_acl,
                         new_acl, user_id, session_id, allowed, rule, created_at)
select id, project_id, connected_account_id, kind, 'connected_account', connected_account_id, api_key_id, old_acl,
       new_acl, user_id, session_id, allowed, rule, created_at
from acl_audit;
drop table acl_audit;
create index audit_event_by_account on audit_event (project_id, connected_account_id, id desc);
create index audit_event_by_subject on audit_event (project_id, subject_type, subject_id, id desc);
create index audit_event_by_created on audit_event (created_at);
create index link_by_expiry on link (expires_at);
create index link_by_consumed on link (consumed_at) where consumed_at is not null;
create index link_by_session on link (session_id) where session_id is not null;
create index oauth_state_by_expiry on oauth_state (expires_at);
create index oauth_state_by_link on oauth_state (link_token_hash);
create index tool_router_session_deleted on tool_router_session (deleted_at) where deleted_at is not null;
create index connected_account_deleted on connected_account (deleted_at) where deleted_at is not null;
