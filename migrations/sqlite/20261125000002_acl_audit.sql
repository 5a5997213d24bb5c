-- Audit trail of SHARED connected accounts: every ACL change (old and new ACL, which API key) and
-- every access decision made while resolving a session's accounts (user, allow/deny, rule).
-- SQLite twin of migrations/postgres/20261125000002_acl_audit.sql.
create table acl_audit (
    id                    integer primary key autoincrement,
    project_id            text not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    kind                  text not null check (kind in ('acl_change', 'access_decision')),
    api_key_id            text references api_key (id) on delete set null,
    old_acl               text,
    new_acl               text,
    user_id               text,
    session_id            text,
    allowed               integer,
    rule                  text,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
create index acl_audit_by_account on acl_audit (project_id, connected_account_id, id desc);
