-- Each project gets its own OAuth redirect URI; see migrations/postgres/…_redirect_key.sql.
alter table project add column redirect_key text;

update project set redirect_key = lower(replace(id, '-', ''))
where id <> (select id from project order by created_at, id limit 1);

-- One index, two rules: keys are unique, and at most one project has none.
create unique index project_redirect_key on project (coalesce(redirect_key, ''));
