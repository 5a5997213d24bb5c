//! Connected accounts: read, list, patch (alias, SHARED ACL), soft delete.

use crate::{
    domain::{AccountType, AclConfig, ConnectedAccountId},
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{
        AccountFilter, AccountPatch, AccountRecord, ApiKeyId, AuditRecord, Constraint, Cursor, Page, ProjectId,
        StoreError,
    },
};

#[tracing::instrument(name = "accounts::get", skip_all, fields(project = %project.0, id = %id))]
pub async fn get(ctx: &ServiceContext, project: ProjectId, id: &ConnectedAccountId) -> ApiResult<AccountRecord> {
    ctx.store.account(project, id).await?.ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))
}

#[tracing::instrument(name = "accounts::list", skip_all, fields(project = %project.0))]
pub async fn list(ctx: &ServiceContext, project: ProjectId, filter: &AccountFilter) -> ApiResult<Page<AccountRecord>> {
    Ok(ctx.store.list_accounts(project, filter).await?)
}

/// Changes the alias and/or the ACL. The account type never changes; an ACL is only valid on a
/// SHARED account.
#[tracing::instrument(name = "accounts::update", skip_all, fields(project = %project.0, id = %id))]
pub async fn update(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    alias: Option<Option<String>>,
    acl: Option<AclConfig>,
    actor: ApiKeyId,
) -> ApiResult<AccountRecord> {
    let current = get(ctx, project, id).await?;
    if acl.is_some() && current.account_type != AccountType::Shared {
        return Err(ApiError::AclOnlyForShared);
    }
    let patch = AccountPatch { alias: alias.clone(), acl };
    ctx.store
        .update_account(project, id, &patch, Some(actor))
        .await
        .map_err(|err| match err {
            StoreError::Conflict(Constraint::AccountAlias) => ApiError::AliasTaken {
                alias: alias.flatten().unwrap_or_default(),
                toolkit: current.toolkit.to_string(),
            },
            other => other.into(),
        })?
        .ok_or_else(|| ApiError::ConnectedAccountNotFound(id.to_string()))
}

#[tracing::instrument(name = "accounts::delete", skip_all, fields(project = %project.0, id = %id))]
pub async fn delete(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    actor: ApiKeyId,
) -> ApiResult<()> {
    if ctx.store.delete_account(project, id, Some(actor)).await? {
        Ok(())
    } else {
        Err(ApiError::ConnectedAccountNotFound(id.to_string()))
    }
}

/// The audit trail of an account (which must exist and not be deleted), newest first.
#[tracing::instrument(name = "accounts::audit", skip_all, fields(project = %project.0, id = %id))]
pub async fn audit(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &ConnectedAccountId,
    limit: i64,
    after: Option<&Cursor>,
) -> ApiResult<Page<AuditRecord>> {
    get(ctx, project, id).await?;
    Ok(ctx.store.audit_log(project, id, limit, after).await?)
}
