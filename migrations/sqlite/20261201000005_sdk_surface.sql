-- SQLite twin of migrations/postgres/20261201000005_sdk_surface.sql.
alter table auth_config add column deleted_at text;
alter table auth_config add column revocation_url text;
alter table connected_account add column link_url_sealed text;
-- Every read of auth configs goes through this view, so a deleted config cannot leak into one.
create view live_auth_config as select * from auth_config where deleted_at is null;
