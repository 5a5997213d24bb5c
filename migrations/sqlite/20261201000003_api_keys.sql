-- API keys an operator can manage; see migrations/postgres/…_api_keys.sql.
alter table api_key add column name text not null default '';
alter table api_key add column last_used_at text;
alter table api_key add column expires_at text;

create index api_key_by_project on api_key (project_id, created_at desc, id desc);
