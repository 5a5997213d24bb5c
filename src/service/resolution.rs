//! Which connected account a session would use for each of its toolkits.
//!
//! Rule (contract §12.10): a pinned account the session's user may use (their own PRIVATE one,
//! or a SHARED one whose ACL lets them in *now*, so an ACL change applies to sessions created
//! earlier); else the user's newest ACTIVE PRIVATE account; never an unpinned SHARED account.
//! Every SHARED access decision made here is written to the audit trail.

use std::collections::BTreeMap;

use crate::{
    domain::{AccountStatus, AccountType, SessionId, ToolkitSlug, acl::decide, session::ToolkitFilter},
    error::ApiResult,
    service::context::ServiceContext,
    store::{AccessDecision, AccountRecord, AuthConfigFilter, ProjectId},
};

/// One toolkit of a session as reported by `GET …/session/{id}/toolkits`.
#[derive(Debug, Clone)]
pub struct SessionToolkit {
    pub slug: ToolkitSlug,
    pub name: String,
    pub description: String,
    pub logo: String,
    pub enabled: bool,
    pub account: Option<AccountRecord>,
}

/// Filters of the listing.
#[derive(Debug, Clone, Default)]
pub struct ToolkitQuery {
    pub toolkits: Vec<ToolkitSlug>,
    pub is_connected: Option<bool>,
    pub search: Option<String>,
}

/// Every toolkit of the session matching the query, sorted by slug, with its resolved account.
#[tracing::instrument(name = "resolution::session_toolkits", skip_all, fields(project = %project.0, session_id = %session_id))]
pub async fn session_toolkits(
    ctx: &ServiceContext,
    project: ProjectId,
    session_id: &SessionId,
    query: &ToolkitQuery,
) -> ApiResult<Vec<SessionToolkit>> {
    let session = super::sessions::get(ctx, project, session_id).await?;
    let config = &session.config;

    let mut slugs: Vec<ToolkitSlug> = match &config.toolkits {
        Some(ToolkitFilter::Enable(list)) => list.clone(),
        _ => {
            let custom = AuthConfigFilter { limit: 1000, ..Default::default() };
            let mut all: Vec<ToolkitSlug> = ctx.catalog.iter().map(|p| p.slug.clone()).collect();
            all.extend(ctx.store.list_auth_configs(project, &custom).await?.items.into_iter().map(|c| c.toolkit));
            all
        }
    };
    slugs.sort();
    slugs.dedup();
    if !query.toolkits.is_empty() {
        slugs.retain(|s| query.toolkits.contains(s));
    }
    let name_of = |slug: &ToolkitSlug| ctx.catalog.get(slug).map_or_else(|| slug.to_string(), |p| p.name.clone());
    if let Some(search) = query.search.as_deref().map(str::to_lowercase) {
        slugs.retain(|s| s.as_str().contains(&search) || name_of(s).to_lowercase().contains(&search));
    }

    let pinned_ids: Vec<_> = slugs.iter().filter_map(|s| config.connected_accounts.get(s)).flatten().cloned().collect();
    let pinned = ctx.store.accounts_by_ids(project, &pinned_ids).await?;
    let own: BTreeMap<ToolkitSlug, AccountRecord> = ctx
        .store
        .active_private_accounts(project, &session.user_id, &slugs)
        .await?
        .into_iter()
        .map(|a| (a.toolkit.clone(), a))
        .collect();

    let mut decisions = Vec::new();
    let mut out = Vec::with_capacity(slugs.len());
    for slug in slugs {
        let mut chosen = None;
        for id in config.connected_accounts.get(&slug).into_iter().flatten() {
            let Some(account) = pinned.iter().find(|a| &a.id == id && a.toolkit == slug && !a.is_disabled) else {
                continue;
            };
            let usable = match account.account_type {
                AccountType::Private => account.user_id == session.user_id,
                AccountType::Shared => {
                    let acl = account.acl.clone().unwrap_or_default();
                    let decision = decide(&acl, &account.user_id, &session.user_id);
                    decisions.push(AccessDecision {
                        account_id: account.id.clone(),
                        user_id: session.user_id.clone(),
                        session_id: session_id.clone(),
                        allowed: decision.allowed,
                        rule: decision.rule,
                    });
                    decision.allowed
                }
            };
            if usable && chosen.is_none() {
                chosen = Some(account.clone());
            }
        }
        let account = chosen.or_else(|| own.get(&slug).cloned());
        let connected = account.as_ref().is_some_and(|a| a.status == AccountStatus::Active);
        if query.is_connected.is_some_and(|want| want != connected) {
            continue;
        }
        let provider = ctx.catalog.get(&slug);
        out.push(SessionToolkit {
            name: name_of(&slug),
            description: provider.map(|p| p.description.clone()).unwrap_or_default(),
            logo: provider.and_then(|p| p.logo.clone()).unwrap_or_default(),
            enabled: config.toolkit_enabled(&slug),
            slug,
            account,
        });
    }
    ctx.store.record_access_decisions(project, &decisions).await?;
    Ok(out)
}
