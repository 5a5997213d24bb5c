-- Idempotency-Key records; see migrations/postgres/…_idempotency.sql.
create table idempotency_key (
    key_hash         blob primary key,
    project_id       text not null references project (id) on delete cascade,
    fingerprint      blob not null,
    status           integer,
    response_sealed  text,
    locked_until     text not null,
    created_at       text not null
) strict;

create index idempotency_key_by_created on idempotency_key (created_at);
