-- Connection fields of an OAuth account whose provider endpoints are templated on them (a tenant
-- `subdomain`, issue #15): sealed (AES-256-GCM, the account id as associated data) on the account
-- for the code exchange, every refresh and revocation, and on the OAuth state that started the
-- sign-in, so its callback exchanges the code at the endpoint its authorization request used.
alter table connected_account add column fields_sealed text;
alter table oauth_state add column fields_sealed text;
