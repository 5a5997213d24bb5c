-- A project's link-page branding (helper B, issue #15): display name, accent colour, support URL
-- and a logo (PNG, JPEG or WebP, at most 256 KiB, checked by the API) served from authlink itself.
create table link_branding (
    project_id    uuid primary key references project (id) on delete cascade,
    display_name  text,
    accent_color  text,
    support_url   text,
    logo          bytea,
    logo_type     text,
    logo_sha256   text,
    logo_size     bigint,
    updated_at    timestamptz not null default now()
);
