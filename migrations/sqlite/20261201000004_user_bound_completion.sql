-- User-bound completion; see migrations/postgres/…_user_bound_completion.sql.
alter table project add column verifier_url text;

create table completion_session (
    session_hash          blob primary key,
    project_id            text not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    expires_at            text not null,
    used_at               text,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
create index completion_session_account on completion_session (connected_account_id);
create index completion_session_expires on completion_session (expires_at);
