-- Each project gets its own OAuth redirect URI, {public}/oauth/callback/{redirect_key}, so a
-- provider only ever delivers a code minted for one tenant's OAuth client to that tenant's
-- callback (a tenant cannot receive codes or PKCE verifiers of another tenant's client by
-- reusing its public client_id). One project may keep the shared {public}/oauth/callback
-- (redirect_key null): on an existing installation the oldest project, so single-tenant setups
-- need not re-register anything; on a new one the first project created.
alter table project add column redirect_key text;

update project set redirect_key = replace(cast(id as text), '-', '')
where id <> (select id from project order by created_at, id limit 1);

-- One index, two rules: keys are unique, and at most one project has none.
create unique index project_redirect_key on project ((coalesce(redirect_key, '')));
