//! Link-page branding (see [`crate::store::branding`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::store::{BrandingPatch, BrandingStore, LinkBranding, LogoMeta, NewLogo, ProjectId, StoreResult};

const ENSURE_ROW: &str =
    "insert into link_branding (project_id, updated_at) values ($1, $2) on conflict (project_id) do nothing";

#[async_trait]
impl BrandingStore for PgStore {
    async fn link_branding(&self, project: ProjectId) -> StoreResult<Option<LinkBranding>> {
        let row = sqlx::query(
            "select p.name, b.display_name, b.accent_color, b.support_url, b.logo_type, b.logo_sha256, b.logo_size,
                    b.updated_at
             from project p left join link_branding b on b.project_id = p.id where p.id = $1",
        )
        .bind(project.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let logo = match (row.try_get::<Option<String>, _>(4)?, row.try_get::<Option<String>, _>(5)?) {
            (Some(content_type), Some(sha256)) => {
                Some(LogoMeta { content_type, sha256, size: row.try_get::<Option<i64>, _>(6)?.unwrap_or(0) })
            }
            _ => None,
        };
        Ok(Some(LinkBranding {
            project_name: row.try_get(0)?,
            display_name: row.try_get(1)?,
            accent_color: row.try_get(2)?,
            support_url: row.try_get(3)?,
            logo,
            updated_at: row.try_get::<Option<DateTime<Utc>>, _>(7)?,
        }))
    }

    async fn update_link_branding(&self, project: ProjectId, patch: &BrandingPatch) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(ENSURE_ROW).bind(project.0).bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "update link_branding set
                display_name = case when $2 then $3 else display_name end,
                accent_color = case when $4 then $5 else accent_color end,
                support_url = case when $6 then $7 else support_url end,
                updated_at = $8
             where project_id = $1",
        )
        .bind(project.0)
        .bind(patch.display_name.is_some())
        .bind(patch.display_name.clone().flatten())
        .bind(patch.accent_color.is_some())
        .bind(patch.accent_color.clone().flatten())
        .bind(patch.support_url.is_some())
        .bind(patch.support_url.clone().flatten())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_link_logo(&self, project: ProjectId, logo: Option<&NewLogo>) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(ENSURE_ROW).bind(project.0).bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "update link_branding set logo = $2, logo_type = $3, logo_sha256 = $4, logo_size = $5, updated_at = $6
             where project_id = $1",
        )
        .bind(project.0)
        .bind(logo.map(|l| l.bytes.clone()))
        .bind(logo.map(|l| l.content_type.clone()))
        .bind(logo.map(|l| l.sha256.clone()))
        .bind(logo.map(|l| i64::try_from(l.bytes.len()).unwrap_or(i64::MAX)))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_logo(&self, project: ProjectId, sha256: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
        let row = sqlx::query(
            "select logo_type, logo from link_branding
             where project_id = $1 and logo_sha256 = $2 and logo is not null and logo_type is not null",
        )
        .bind(project.0)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }
}
