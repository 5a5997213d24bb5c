-- authlink initial schema (SQLite), the same schema as migrations/postgres/20261125000001_initial.sql.
-- Every table that holds project data carries project_id, and every query filters on it.
-- Secrets are never stored in clear: API keys and link tokens as SHA-256 hashes (blob),
-- client secrets and OAuth tokens sealed with AES-256-GCM (text "v1.<key id>.<base64>").
--
-- Type mapping from PostgreSQL (STRICT tables, so a wrongly typed bind fails loudly):
--   uuid        -> text, hyphenated lowercase
--   bytea       -> blob
--   jsonb       -> text holding JSON
--   text[]      -> text holding a JSON array of strings
--   boolean     -> integer 0/1
--   timestamptz -> text, RFC 3339 in UTC with exactly six fractional digits
--                  ('2026-11-25T09:41:00.123456Z'), so text order is time order. The store always
--                  binds these from Rust; the defaults (millisecond precision) only serve manual inserts.
--   bigserial   -> integer primary key autoincrement

create table project (
    id          text primary key,
    name        text not null unique,
    created_at  text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;

create table api_key (
    id          text primary key,
    project_id  text not null references project (id) on delete cascade,
    key_hash    blob not null unique,
    -- last four characters, so an operator can tell keys apart without the key itself
    hint        text not null,
    created_at  text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    revoked_at  text
) strict;

create table auth_config (
    id                    text primary key,
    project_id            text not null references project (id) on delete cascade,
    toolkit               text not null,
    name                  text not null,
    auth_scheme           text not null,
    is_composio_managed   integer not null default 0,
    client_id             text not null,
    client_secret_sealed  text,
    scopes                text not null default '[]',
    authorization_url     text,
    token_url             text,
    is_enabled            integer not null default 1,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
create index auth_config_by_toolkit on auth_config (project_id, toolkit, created_at desc);
create index auth_config_listing on auth_config (project_id, created_at desc, id desc);

create table tool_router_session (
    id              text primary key,
    project_id      text not null references project (id) on delete cascade,
    user_id         text not null,
    config          text not null,
    config_version  integer not null default 0,
    created_at      text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at      text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    deleted_at      text
) strict;
create index tool_router_session_by_project on tool_router_session (project_id, id);

create table connected_account (
    id                     text primary key,
    project_id             text not null references project (id) on delete cascade,
    -- the creator: the session's user (or the user_id given to /connected_accounts/link)
    user_id                text not null,
    toolkit                text not null,
    auth_config_id         text not null references auth_config (id),
    alias                  text,
    account_type           text not null check (account_type in ('PRIVATE', 'SHARED')),
    acl                    text,
    status                 text not null,
    status_reason          text,
    is_disabled            integer not null default 0,
    -- an INITIATED account not completed by then reads as EXPIRED
    initiation_expires_at  text,
    created_at             text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at             text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    deleted_at             text
) strict;
-- alias is unique per (project, user, toolkit) among accounts not deleted
create unique index connected_account_alias_key
    on connected_account (project_id, user_id, toolkit, alias)
    where alias is not null and deleted_at is null;
create index connected_account_by_created on connected_account (project_id, created_at desc, id desc);
create index connected_account_by_user on connected_account (project_id, user_id, toolkit);

create table link (
    token_hash            blob primary key,
    project_id            text not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    session_id            text references tool_router_session (id),
    callback_url          text,
    expires_at            text not null,
    consumed_at           text,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
create index link_by_account on link (connected_account_id);
