-- A per-account refresh lease. SQLite has no row locks, and holding its database-wide write lock
-- across a provider's token call (up to 15 s) would stall every other writer; a lease row is
-- taken and released in short transactions instead, and expires on its own if its holder dies.
alter table connected_account add column refresh_lease_owner text;
alter table connected_account add column refresh_lease_until text;
