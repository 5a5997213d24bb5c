-- OAuth 1.0a auth configs (scheme OAUTH1). client_id holds the consumer key and
-- client_secret_sealed the consumer secret (sealed, auth config id as associated data), as for
-- OAuth 2.0; authorization_url and token_url override the authorize and token-credentials
-- endpoints, and this column the temporary-credentials endpoint (RFC 5849 §2.1). The view is
-- recreated so it is certain to carry the new column.
alter table auth_config add column request_token_url text;
drop view live_auth_config;
create view live_auth_config as select * from auth_config where deleted_at is null;
