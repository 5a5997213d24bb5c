-- Signed webhooks (issue 14): subscriptions, the outbox of connected-account events, one
-- delivery per (event, subscription) and every attempt made. Events are written in the
-- transaction of the state change they report (see src/store/postgres/events.rs), so a change
-- that rolls back emits nothing and a committed one is delivered even after a crash.

create table webhook_subscription (
    id                      text primary key,
    project_id              uuid not null references project (id) on delete cascade,
    webhook_url             text not null,
    version                 text not null default 'V3' check (version in ('V1', 'V2', 'V3')),
    enabled_events          text[] not null,
    -- the signing secret, sealed (it must be read back to sign); the previous one stays valid
    -- (deliveries carry both signatures) until previous_secret_until
    secret_sealed           text not null,
    previous_secret_sealed  text,
    previous_secret_until   timestamptz,
    -- first failed attempt since the last success; disabled after the delivery horizon
    failing_since           timestamptz,
    disabled_at             timestamptz,
    disabled_reason         text,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now()
);
create index webhook_subscription_by_project on webhook_subscription (project_id, created_at desc, id desc);

-- The outbox: what happened to which account, with the account as it was right after the change.
-- No foreign key to connected_account: an event outlives the account it reports (deleted).
create table webhook_event (
    id                    text primary key,
    project_id            uuid not null references project (id) on delete cascade,
    event_type            text not null,
    connected_account_id  text not null,
    user_id               text not null,
    toolkit               text not null,
    auth_config_id        text not null,
    auth_scheme           text not null,
    is_composio_managed   boolean not null,
    status                text not null,
    status_reason         text,
    is_disabled           boolean not null,
    account_created_at    timestamptz not null,
    account_updated_at    timestamptz not null,
    created_at            timestamptz not null default now()
);
create index webhook_event_by_account on webhook_event (project_id, connected_account_id);

create table webhook_delivery (
    id               bigserial primary key,
    event_id         text not null references webhook_event (id) on delete cascade,
    subscription_id  text not null references webhook_subscription (id) on delete cascade,
    project_id       uuid not null references project (id) on delete cascade,
    -- PENDING (waiting for next_attempt_at), DELIVERED, FAILED (gave up at the horizon)
    state            text not null default 'PENDING' check (state in ('PENDING', 'DELIVERED', 'FAILED')),
    attempts         bigint not null default 0,
    -- when PENDING: the next attempt; while an attempt runs, the end of its claim (a worker that
    -- dies mid-attempt lets the delivery fall due again then)
    next_attempt_at  timestamptz not null default now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz not null default now()
);
create index webhook_delivery_due on webhook_delivery (next_attempt_at) where state = 'PENDING';
create index webhook_delivery_by_subscription on webhook_delivery (subscription_id, id desc);

create table webhook_attempt (
    id               bigserial primary key,
    delivery_id      bigint not null references webhook_delivery (id) on delete cascade,
    attempt          bigint not null,
    started_at       timestamptz not null,
    duration_ms      bigint not null,
    response_status  bigint,
    error            text,
    success          boolean not null
);
create index webhook_attempt_by_delivery on webhook_attempt (delivery_id, attempt);

-- Background refresh: when the sweeper may try an account again after a transient failure.
alter table connected_account add column refresh_retry_at timestamptz;
alter table connected_account add column refresh_failures bigint not null default 0;
create index connected_account_refresh_due on connected_account (token_expires_at)
    where status = 'ACTIVE' and deleted_at is null and token_expires_at is not null;

-- Named singleton jobs (the refresh sweeper): one holder at a time across processes.
create table worker_lease (
    name         text primary key,
    owner        text,
    lease_until  timestamptz
);
insert into worker_lease (name) values ('refresh_sweeper');

-- Reconnect (an authlink extension of the link endpoints): a link for an existing connected
-- account, which the flow updates in place instead of completing an INITIATED one.
alter table link add column reconnect boolean not null default false;
