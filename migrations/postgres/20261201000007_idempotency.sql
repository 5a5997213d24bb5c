-- Idempotency-Key records (issue 17 item 1): one row per (project, key), addressed by the SHA-256
-- of the project id and the key (the key itself is never stored). `status` is null while the
-- first request runs (until `locked_until`, after which a retry may take the key over); then the
-- first response's status and its body, sealed (a link response holds a link token), for 24 h.
create table idempotency_key (
    key_hash         bytea primary key,
    project_id       uuid not null references project (id) on delete cascade,
    fingerprint      bytea not null,
    status           integer,
    response_sealed  text,
    locked_until     timestamptz not null,
    created_at       timestamptz not null
);

-- The purge of records past their 24 h.
create index idempotency_key_by_created on idempotency_key (created_at);
