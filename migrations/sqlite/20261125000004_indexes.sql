-- SQLite twin of migrations/postgres/20261125000004_indexes.sql.
create index connected_account_initiated on connected_account (initiation_expires_at) where status = 'INITIATED';
-- Counting an auth config's connections (GET auth_configs) without scanning the project's accounts.
create index connected_account_by_auth_config on connected_account (auth_config_id) where deleted_at is null;
