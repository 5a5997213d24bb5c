-- User-bound completion (Composio's OAuth callback verifier and `complete_auth`): when a project
-- has a verifier URL, a successful code exchange does not activate the account. The browser is
-- sent to the verifier with a single-use session_uri; the app checks who is logged in and calls
-- POST connected_accounts/complete_auth with {session_uri, user_id}. Only a matching user_id
-- turns the account ACTIVE.
alter table project add column verifier_url text;

create table completion_session (
    -- SHA-256 of the session_uri handed to the verifier; the value itself is never stored
    session_hash          bytea primary key,
    project_id            uuid not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    expires_at            timestamptz not null,
    used_at               timestamptz,
    created_at            timestamptz not null default now()
);
create index completion_session_account on completion_session (connected_account_id);
create index completion_session_expires on completion_session (expires_at);
