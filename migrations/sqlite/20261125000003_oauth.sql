-- OAuth completion: per-auth-config client authentication and issuer overrides, sealed tokens on
-- connected accounts, and single-use authorization states bound to the browser.
-- SQLite twin of migrations/postgres/20261125000003_oauth.sql (SQLite adds one column per statement).
alter table auth_config
    add column client_auth text check (client_auth in ('client_secret_basic', 'client_secret_post'));
alter table auth_config add column issuer text;

alter table connected_account add column tokens_sealed text;
-- not secret: when the access token stops working, to decide on refresh without unsealing
alter table connected_account add column token_expires_at text;

create table oauth_state (
    state_hash            blob primary key,
    project_id            text not null references project (id) on delete cascade,
    link_token_hash       blob not null references link (token_hash) on delete cascade,
    connected_account_id  text not null references connected_account (id) on delete cascade,
    -- SHA-256 of the browser-binding cookie set by the link page
    binding_hash          blob not null,
    -- PKCE code verifier, sealed with the account id as associated data
    verifier_sealed       text,
    expires_at            text not null,
    used_at               text,
    created_at            text not null default (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) strict;
create index oauth_state_by_account on oauth_state (connected_account_id);
