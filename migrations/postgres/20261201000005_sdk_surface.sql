-- The rest of the Composio SDK surface (issue 12).
-- auth_config.deleted_at: DELETE auth_configs/{id} soft-deletes the config (its client secret is
--   erased at once) together with all its connected accounts, in one transaction; deleted configs
--   are invisible to every read.
-- auth_config.revocation_url: the RFC 7009 endpoint of a custom toolkit (catalog providers name
--   theirs in the catalog); POST connected_accounts/{id}/revoke calls it.
-- connected_account.link_url_sealed: the link's redirect URL (it carries the single-use link token),
--   sealed with the account id as associated data, so an INITIATED account can show
--   state.val.redirectUrl as Composio does. Erased when the account leaves INITIATED.
alter table auth_config add column deleted_at timestamptz;
alter table auth_config add column revocation_url text;
alter table connected_account add column link_url_sealed text;
-- Every read of auth configs goes through this view, so a deleted config cannot leak into one.
create view live_auth_config as select * from auth_config where deleted_at is null;
