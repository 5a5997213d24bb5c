//! Which toolkits exist for a project: the catalog's, plus any the project configured itself
//! through an auth config with its own endpoints.

use std::collections::BTreeSet;

use crate::{
    domain::ToolkitSlug,
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::ProjectId,
};

/// Fails with `ToolRouterV2_InvalidToolkitSlugs` naming every unknown slug.
pub async fn ensure_known<'a>(
    ctx: &ServiceContext,
    project: ProjectId,
    slugs: impl IntoIterator<Item = &'a ToolkitSlug>,
) -> ApiResult<()> {
    let missing: BTreeSet<ToolkitSlug> = slugs.into_iter().filter(|s| !ctx.catalog.contains(s)).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    let wanted: Vec<ToolkitSlug> = missing.iter().cloned().collect();
    let custom: BTreeSet<ToolkitSlug> =
        ctx.store.toolkits_with_auth_configs(project, &wanted).await?.into_iter().collect();
    let unknown: Vec<String> = missing.difference(&custom).map(ToString::to_string).collect();
    if unknown.is_empty() { Ok(()) } else { Err(ApiError::InvalidToolkitSlugs(unknown)) }
}
