//! Tool-router sessions: create, read, patch (optimistic concurrency on `config_version`),
//! delete. Every reference a session holds (toolkits, auth configs, pinned accounts) is checked
//! against the caller's project when it is set.

use std::collections::BTreeSet;

use chrono::Utc;

use crate::{
    domain::{
        AccountType, ConnectedAccountId, SessionId, ToolkitSlug,
        acl::decide,
        session::{ManageConnections, MultiAccount, SessionConfig, ToolkitFilter},
    },
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{ProjectId, SessionRecord},
};

/// Default cap on accounts per toolkit when `multi_account` is enabled without a number.
pub const DEFAULT_MAX_ACCOUNTS: u8 = 5;

/// A PATCH: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct SessionPatch {
    pub toolkits: Option<Option<ToolkitFilter>>,
    pub auth_configs: Option<std::collections::BTreeMap<ToolkitSlug, crate::domain::AuthConfigId>>,
    pub connected_accounts: Option<Option<std::collections::BTreeMap<ToolkitSlug, Vec<ConnectedAccountId>>>>,
    pub manage_connections: Option<Option<ManageConnections>>,
    pub multi_account: Option<Option<MultiAccount>>,
    pub link_url_overwrite: Option<Option<String>>,
}

impl SessionPatch {
    fn apply(&self, config: &mut SessionConfig) {
        if let Some(t) = &self.toolkits {
            config.toolkits = t.clone();
        }
        if let Some(a) = &self.auth_configs {
            config.auth_configs = a.clone();
        }
        if let Some(c) = &self.connected_accounts {
            config.connected_accounts = c.clone().unwrap_or_default();
        }
        if let Some(m) = &self.manage_connections {
            config.manage_connections = m.clone().unwrap_or_default();
        }
        if let Some(m) = &self.multi_account {
            config.multi_account = m.clone();
        }
        if let Some(l) = &self.link_url_overwrite {
            config.link_url_overwrite = l.clone();
        }
    }
}

#[tracing::instrument(name = "sessions::create", skip_all, fields(project = %project.0))]
pub async fn create(
    ctx: &ServiceContext,
    project: ProjectId,
    user_id: String,
    config: SessionConfig,
) -> ApiResult<SessionRecord> {
    check_config(ctx, project, &user_id, &config).await?;
    let now = Utc::now();
    let record = SessionRecord {
        id: SessionId::generate(),
        user_id,
        config,
        config_version: 0,
        created_at: now,
        updated_at: now,
    };
    ctx.store.insert_session(project, &record).await?;
    Ok(record)
}

#[tracing::instrument(name = "sessions::get", skip_all, fields(project = %project.0, id = %id))]
pub async fn get(ctx: &ServiceContext, project: ProjectId, id: &SessionId) -> ApiResult<SessionRecord> {
    ctx.store.session(project, id).await?.ok_or_else(|| ApiError::SessionNotFound(id.to_string()))
}

/// Applies a patch to the current config and bumps `config_version`. A concurrent writer makes
/// the compare-and-set fail; the patch is then re-applied to the fresh config, a few times.
#[tracing::instrument(name = "sessions::update", skip_all, fields(project = %project.0, id = %id))]
pub async fn update(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &SessionId,
    patch: &SessionPatch,
) -> ApiResult<SessionRecord> {
    for _ in 0..5 {
        let current = get(ctx, project, id).await?;
        let mut config = current.config.clone();
        patch.apply(&mut config);
        check_config(ctx, project, &current.user_id, &config).await?;
        if let Some(updated) = ctx.store.update_session(project, id, &config, current.config_version).await? {
            return Ok(updated);
        }
    }
    let latest = get(ctx, project, id).await?;
    Err(ApiError::SessionVersionConflict(latest.config_version))
}

#[tracing::instrument(name = "sessions::delete", skip_all, fields(project = %project.0, id = %id))]
pub async fn delete(ctx: &ServiceContext, project: ProjectId, id: &SessionId) -> ApiResult<()> {
    if ctx.store.delete_session(project, id).await? { Ok(()) } else { Err(ApiError::SessionNotFound(id.to_string())) }
}

/// Every toolkit named is known, every auth config exists for its toolkit, every pin is usable.
async fn check_config(
    ctx: &ServiceContext,
    project: ProjectId,
    user_id: &str,
    config: &SessionConfig,
) -> ApiResult<()> {
    let mut slugs: BTreeSet<&ToolkitSlug> = BTreeSet::new();
    if let Some(ToolkitFilter::Enable(list) | ToolkitFilter::Disable(list)) = &config.toolkits {
        slugs.extend(list);
    }
    slugs.extend(config.auth_configs.keys());
    slugs.extend(config.connected_accounts.keys());
    super::toolkits::ensure_known(ctx, project, slugs).await?;

    for (toolkit, id) in &config.auth_configs {
        match ctx.store.auth_config(project, id).await? {
            Some(ac) if &ac.toolkit == toolkit => {}
            Some(ac) => {
                return Err(ApiError::field(
                    format!("auth_configs.{toolkit}"),
                    format!("auth config {id} is for toolkit {}, not {toolkit}", ac.toolkit),
                ));
            }
            None => {
                return Err(ApiError::field(format!("auth_configs.{toolkit}"), format!("auth config {id} not found")));
            }
        }
    }
    check_pins(ctx, project, user_id, config).await
}

/// Pins (`connected_accounts`): each id exists in the project and is not deleted, belongs to the
/// toolkit it is pinned under, is the session user's own (PRIVATE) or lets the user in (SHARED);
/// at most one SHARED per toolkit; one account per toolkit unless `multi_account` allows more.
async fn check_pins(ctx: &ServiceContext, project: ProjectId, user_id: &str, config: &SessionConfig) -> ApiResult<()> {
    let max = match &config.multi_account {
        Some(MultiAccount { enable: Some(true), max_accounts_per_toolkit, .. }) => {
            usize::from(max_accounts_per_toolkit.unwrap_or(DEFAULT_MAX_ACCOUNTS))
        }
        _ => 1,
    };
    let ids: Vec<ConnectedAccountId> = config.connected_accounts.values().flatten().cloned().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let found = ctx.store.accounts_by_ids(project, &ids).await?;
    let bad = |id: &ConnectedAccountId, why: String| ApiError::InvalidConnectedAccountIds(format!("{id}: {why}"));
    for (toolkit, pinned) in &config.connected_accounts {
        if pinned.len() > max {
            return Err(ApiError::InvalidConnectedAccountIds(format!(
                "{} accounts pinned for toolkit {toolkit}, at most {max} allowed{}",
                pinned.len(),
                if max == 1 { " without multi_account" } else { "" }
            )));
        }
        let mut shared = 0;
        let mut seen = BTreeSet::new();
        for id in pinned {
            if !seen.insert(id) {
                return Err(bad(id, "pinned twice".into()));
            }
            let Some(account) = found.iter().find(|a| &a.id == id) else {
                return Err(bad(id, "not found".into()));
            };
            if account.is_disabled {
                return Err(bad(id, "is disabled".into()));
            }
            if &account.toolkit != toolkit {
                return Err(bad(id, format!("belongs to toolkit {}, not {toolkit}", account.toolkit)));
            }
            match account.account_type {
                AccountType::Private if account.user_id != user_id => {
                    return Err(bad(id, "is a PRIVATE account of another user".into()));
                }
                AccountType::Shared => {
                    shared += 1;
                    let acl = account.acl.clone().unwrap_or_default();
                    if !decide(&acl, &account.user_id, user_id).allowed {
                        return Err(bad(id, format!("the SHARED account's ACL does not allow user {user_id}")));
                    }
                }
                AccountType::Private => {}
            }
        }
        if shared > 1 {
            return Err(ApiError::InvalidConnectedAccountIds(format!(
                "at most one SHARED account may be pinned per toolkit ({toolkit} has {shared})"
            )));
        }
    }
    Ok(())
}
