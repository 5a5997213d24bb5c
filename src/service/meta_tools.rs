//! Composio's connection meta tools, as a session's MCP endpoint and the REST tool execution
//! serve them: `COMPOSIO_MANAGE_CONNECTIONS` (status per toolkit, a link through the same link
//! service for each toolkit not connected) and `COMPOSIO_WAIT_FOR_CONNECTIONS` (polls until the
//! toolkits are ACTIVE). Which of them a session offers follows its `manage_connections`.

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;

use crate::{
    domain::{AccountStatus, SessionId, ToolkitSlug, session::ManageConnections},
    error::{ApiError, ApiResult},
    service::{
        context::ServiceContext,
        links::{self, LinkRequest},
        resolution::{self, ToolkitQuery},
    },
    store::ProjectId,
};

pub const MANAGE_CONNECTIONS: &str = "COMPOSIO_MANAGE_CONNECTIONS";
pub const WAIT_FOR_CONNECTIONS: &str = "COMPOSIO_WAIT_FOR_CONNECTIONS";

/// Longest wait of one `COMPOSIO_WAIT_FOR_CONNECTIONS` call, under the server's 30 s request
/// timeout; an agent whose user is still connecting calls it again.
pub const MAX_WAIT_SECS: u64 = 25;
/// The wait when the caller names none.
pub const DEFAULT_WAIT_SECS: u64 = 20;
/// How often a wait looks at the accounts again.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The meta tools a session serves, in this order: exactly what `tool_router_tools` lists.
pub fn served_tools(manage: &ManageConnections) -> Vec<&'static str> {
    let mut tools = Vec::new();
    if manage.enabled {
        tools.push(MANAGE_CONNECTIONS);
    }
    if manage.enable_wait_for_connections {
        tools.push(WAIT_FOR_CONNECTIONS);
    }
    tools
}

/// One toolkit's outcome in either tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolkitConnection {
    pub toolkit: String,
    /// `ACTIVE` when connected, `INITIATED` when a link was just created, else the account's
    /// status (or `FAILED` when no link could be made, with `error`).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_account_id: Option<String>,
    /// The link the user must open to connect (only for `INITIATED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Why no link could be made: the contract's error envelope fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolkitError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolkitError {
    pub message: String,
    pub code: u32,
    pub slug: &'static str,
}

impl From<&ApiError> for ToolkitError {
    fn from(e: &ApiError) -> Self {
        let (_, code, slug) = e.parts();
        Self { message: e.to_string(), code, slug }
    }
}

/// What `COMPOSIO_MANAGE_CONNECTIONS` found and did, per requested toolkit.
#[derive(Debug, Clone, Serialize)]
pub struct ManageOutcome {
    pub results: BTreeMap<String, ToolkitConnection>,
}

impl ManageOutcome {
    pub fn count(&self, status: &str) -> usize {
        self.results.values().filter(|r| r.status == status).count()
    }
}

/// Parses the `toolkits` argument of both tools: 1..=50 slugs, deduplicated in order.
pub fn parse_toolkits(raw: &[String]) -> ApiResult<Vec<ToolkitSlug>> {
    if raw.is_empty() {
        return Err(ApiError::field("toolkits", "must name at least one toolkit"));
    }
    if raw.len() > 50 {
        return Err(ApiError::field("toolkits", "must name at most 50 toolkits"));
    }
    let mut errors = Vec::new();
    let mut out: Vec<ToolkitSlug> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        match ToolkitSlug::parse(s) {
            Ok(slug) if !out.contains(&slug) => out.push(slug),
            Ok(_) => {}
            Err(e) => errors.push(crate::error::FieldError::new(format!("toolkits[{i}]"), e.to_string())),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ApiError::Validation(errors)) }
}

/// `COMPOSIO_MANAGE_CONNECTIONS`: each toolkit with an ACTIVE account the session would use is
/// reported as such (unless `reinitiate_all`); for every other one a new link is created exactly
/// as `POST tool_router/session/{id}/link` would (the session's callback URL, its auth configs).
/// A toolkit that cannot be linked (unknown, not enabled, no auth config) is `FAILED` with the
/// error the link endpoint gives, and the others still get their links.
#[tracing::instrument(name = "meta_tools::manage_connections", skip_all, fields(project = %project.0, session_id = %session_id))]
pub async fn manage_connections(
    ctx: &ServiceContext,
    project: ProjectId,
    session_id: &SessionId,
    toolkits: &[ToolkitSlug],
    reinitiate_all: bool,
) -> ApiResult<ManageOutcome> {
    let known = current(ctx, project, session_id, toolkits).await?;
    let mut results = BTreeMap::new();
    for slug in toolkits {
        let existing = known.get(slug).cloned().flatten();
        if let (Some((id, AccountStatus::Active)), false) = (&existing, reinitiate_all) {
            results.insert(slug.to_string(), connection(slug, "ACTIVE", Some(id.clone()), None, None));
            continue;
        }
        let request = LinkRequest {
            alias: None,
            callback_url: None,
            account_type: crate::domain::AccountType::Private,
            acl: None,
            reconnect: None,
        };
        let entry = match links::create_for_session(ctx, project, session_id, slug, request).await {
            Ok(link) => {
                tracing::info!(connected_account_id = %link.account.id, toolkit = %slug, "link created by a meta tool");
                connection(slug, "INITIATED", Some(link.account.id.to_string()), Some(link.redirect_url), None)
            }
            // The session itself is gone, or the database is: the whole call fails.
            Err(e @ (ApiError::SessionNotFound(_) | ApiError::Unavailable | ApiError::Internal(_))) => return Err(e),
            Err(e) => connection(slug, "FAILED", None, None, Some(ToolkitError::from(&e))),
        };
        results.insert(slug.to_string(), entry);
    }
    Ok(ManageOutcome { results })
}

/// `COMPOSIO_WAIT_FOR_CONNECTIONS`: polls the accounts the session would use until all (or, with
/// `any`, one) of the toolkits are ACTIVE, or `timeout` passes. Returns the last statuses and
/// whether the condition was met.
#[tracing::instrument(name = "meta_tools::wait_for_connections", skip_all, fields(project = %project.0, session_id = %session_id))]
pub async fn wait_for_connections(
    ctx: &ServiceContext,
    project: ProjectId,
    session_id: &SessionId,
    toolkits: &[ToolkitSlug],
    any: bool,
    timeout: Duration,
) -> ApiResult<(BTreeMap<String, ToolkitConnection>, bool)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let known = current(ctx, project, session_id, toolkits).await?;
        let results: BTreeMap<String, ToolkitConnection> = toolkits
            .iter()
            .map(|slug| {
                let entry = match known.get(slug).cloned().flatten() {
                    Some((id, status)) => connection(slug, status.as_str(), Some(id), None, None),
                    None => connection(slug, "NOT_CONNECTED", None, None, None),
                };
                (slug.to_string(), entry)
            })
            .collect();
        let active = results.values().filter(|r| r.status == "ACTIVE").count();
        let done = if any { active > 0 } else { active == results.len() };
        if done || tokio::time::Instant::now() + POLL_EVERY > deadline {
            return Ok((results, done));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The account the session would use for each toolkit (`None`: the toolkit is not the session's
/// or has no usable account), by the same rule as `GET …/session/{id}/toolkits`.
async fn current(
    ctx: &ServiceContext,
    project: ProjectId,
    session_id: &SessionId,
    toolkits: &[ToolkitSlug],
) -> ApiResult<BTreeMap<ToolkitSlug, Option<(String, AccountStatus)>>> {
    let query = ToolkitQuery { toolkits: toolkits.to_vec(), ..ToolkitQuery::default() };
    let found = resolution::session_toolkits(ctx, project, session_id, &query).await?;
    Ok(found.into_iter().map(|t| (t.slug, t.account.map(|a| (a.id.to_string(), a.status)))).collect())
}

fn connection(
    slug: &ToolkitSlug,
    status: &str,
    connected_account_id: Option<String>,
    redirect_url: Option<String>,
    error: Option<ToolkitError>,
) -> ToolkitConnection {
    ToolkitConnection {
        toolkit: slug.to_string(),
        status: status.to_owned(),
        connected_account_id,
        redirect_url,
        error,
    }
}
