-- OAuth completion: per-auth-config client authentication and issuer overrides, sealed tokens on
-- connected accounts, and single-use authorization states bound to the browser.
alter table auth_config
    add column client_auth text check (client_auth in ('client_secret_basic', 'client_secret_post')),
    add column issuer text;

alter table connected_account
    add column tokens_sealed text,
    -- not secret: when the access token stops working, to decide on refresh without unsealing
    add column token_expires_at timestamptz;

create table oauth_state (
    state_hash            bytea primary key,
    project_id            uuid not null references project (id) on delete cascade,
    link_token_hash       bytea not null references link (token_hash) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    -- SHA-256 of the browser-binding cookie set by the link page
    binding_hash          bytea not null,
    -- PKCE code verifier, sealed with the account id as associated data
    verifier_sealed       text,
    expires_at            timestamptz not null,
    used_at               timestamptz,
    created_at            timestamptz not null default now()
);
create index oauth_state_by_account on oauth_state (connected_account_id);
create index connected_account_initiated on connected_account (initiation_expires_at) where status = 'INITIATED';
