-- Audit trail of SHARED connected accounts: every ACL change (old and new ACL, which API key) and
-- every access decision made while resolving a session's accounts (user, allow/deny, rule).
create table acl_audit (
    id                    bigserial primary key,
    project_id            uuid not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    kind                  text not null check (kind in ('acl_change', 'access_decision')),
    api_key_id            uuid references api_key (id) on delete set null,
    old_acl               jsonb,
    new_acl               jsonb,
    user_id               text,
    session_id            text,
    allowed               boolean,
    rule                  text,
    created_at            timestamptz not null default now()
);
create index acl_audit_by_account on acl_audit (project_id, connected_account_id, id desc);
