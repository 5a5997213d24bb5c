-- authlink initial schema (PostgreSQL).
-- Every table that holds project data carries project_id, and every query filters on it.
-- Secrets are never stored in clear: API keys and link tokens as SHA-256 hashes (bytea),
-- client secrets and OAuth tokens sealed with AES-256-GCM (text "v1.<key id>.<base64>").

create table project (
    id          uuid primary key,
    name        text not null unique,
    created_at  timestamptz not null default now()
);

create table api_key (
    id          uuid primary key,
    project_id  uuid not null references project (id) on delete cascade,
    key_hash    bytea not null unique,
    -- last four characters, so an operator can tell keys apart without the key itself
    hint        text not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);

create table auth_config (
    id                    text primary key,
    project_id            uuid not null references project (id) on delete cascade,
    toolkit               text not null,
    name                  text not null,
    auth_scheme           text not null,
    is_composio_managed   boolean not null default false,
    client_id             text not null,
    client_secret_sealed  text,
    scopes                text[] not null default '{}',
    authorization_url     text,
    token_url             text,
    is_enabled            boolean not null default true,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);
create index auth_config_by_toolkit on auth_config (project_id, toolkit, created_at desc);
create index auth_config_listing on auth_config (project_id, created_at desc, id desc);

create table tool_router_session (
    id              text primary key,
    project_id      uuid not null references project (id) on delete cascade,
    user_id         text not null,
    config          jsonb not null,
    config_version  bigint not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    deleted_at      timestamptz
);
create index tool_router_session_by_project on tool_router_session (project_id, id);

create table connected_account (
    id                     text primary key,
    project_id             uuid not null references project (id) on delete cascade,
    -- the creator: the session's user (or the user_id given to /connected_accounts/link)
    user_id                text not null,
    toolkit                text not null,
    auth_config_id         text not null references auth_config (id),
    alias                  text,
    account_type           text not null check (account_type in ('PRIVATE', 'SHARED')),
    acl                    jsonb,
    status                 text not null,
    status_reason          text,
    is_disabled            boolean not null default false,
    -- an INITIATED account not completed by then reads as EXPIRED
    initiation_expires_at  timestamptz,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    deleted_at             timestamptz
);
-- alias is unique per (project, user, toolkit) among accounts not deleted
create unique index connected_account_alias_key
    on connected_account (project_id, user_id, toolkit, alias)
    where alias is not null and deleted_at is null;
create index connected_account_by_created on connected_account (project_id, created_at desc, id desc);
create index connected_account_by_user on connected_account (project_id, user_id, toolkit);

create table link (
    token_hash            bytea primary key,
    project_id            uuid not null references project (id) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    session_id            text references tool_router_session (id),
    callback_url          text,
    expires_at            timestamptz not null,
    consumed_at           timestamptz,
    created_at            timestamptz not null default now()
);
create index link_by_account on link (connected_account_id);
