-- Signed webhooks (issue 14); see migrations/postgres/…_webhooks.sql. Types as in the initial
-- SQLite migration: enabled_events is a JSON array of strings, timestamps RFC 3339 text.

create table webhook_subscription (
    id                      text primary key,
    project_id              text not null references project (id) on delete cascade,
    webhook_url             text not null,
    version                 text not null default 'V3' check (version in ('V1', 'V2', 'V3')),
    enabled_events          text not null,
    secret_sealed           text not null,
    previous_secret_sealed  text,
    previous_secret_until   text,
    failing_since           text,
    disabled_at             text,
    disabled_reason         text,
    created_at              text not null,
    updated_at              text not null
) strict;
create index webhook_subscription_by_project on webhook_subscription (project_id, created_at desc, id desc);

create table webhook_event (
    id                    text primary key,
    project_id            text not null references project (id) on delete cascade,
    event_type            text not null,
    connected_account_id  text not null,
    user_id               text not null,
    toolkit               text not null,
    auth_config_id        text not null,
    auth_scheme           text not null,
    is_composio_managed   integer not null,
    status                text not null,
    status_reason         text,
    is_disabled           integer not null,
    account_created_at    text not null,
    account_updated_at    text not null,
    created_at            text not null
) strict;
create index webhook_event_by_account on webhook_event (project_id, connected_account_id);

create table webhook_delivery (
    id               integer primary key autoincrement,
    event_id         text not null references webhook_event (id) on delete cascade,
    subscription_id  text not null references webhook_subscription (id) on delete cascade,
    project_id       text not null references project (id) on delete cascade,
    state            text not null default 'PENDING' check (state in ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         integer not null default 0,
    next_attempt_at  text not null,
    last_error       text,
    delivered_at     text,
    created_at       text not null
) strict;
create index webhook_delivery_due on webhook_delivery (next_attempt_at) where state = 'PENDING';
create index webhook_delivery_by_subscription on webhook_delivery (subscription_id, id desc);

create table webhook_attempt (
    id               integer primary key autoincrement,
    delivery_id      integer not null references webhook_delivery (id) on delete cascade,
    attempt          integer not null,
    started_at       text not null,
    duration_ms      integer not null,
    response_status  integer,
    error            text,
    success          integer not null
) strict;
create index webhook_attempt_by_delivery on webhook_attempt (delivery_id, attempt);

alter table connected_account add column refresh_retry_at text;
alter table connected_account add column refresh_failures integer not null default 0;
create index connected_account_refresh_due on connected_account (token_expires_at)
    where status = 'ACTIVE' and deleted_at is null and token_expires_at is not null;

create table worker_lease (
    name         text primary key,
    owner        text,
    lease_until  text
) strict;
insert into worker_lease (name) values ('refresh_sweeper');

alter table link add column reconnect integer not null default 0;
