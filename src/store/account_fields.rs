//! The connection fields of an OAuth account whose provider endpoints are templated on them (a
//! tenant `subdomain`, issue #15). They are kept sealed on the account
//! (`connected_account.fields_sealed`, the account id as associated data) because the code
//! exchange, every refresh and the revocation must reach the same tenant's endpoints as the
//! sign-in did. The store only moves the sealed text; `service::oauth_fields` seals and opens it.

use async_trait::async_trait;

use super::{ProjectId, StoreResult};
use crate::domain::ConnectedAccountId;

#[async_trait]
pub trait AccountFieldsStore: Send + Sync {
    /// Stores the sealed fields on a live (not deleted) account of the project; with
    /// `only_initiated`, only while it is still INITIATED (a form posted after the sign-in
    /// completed must not change the fields the tokens belong to). `false` when nothing changed.
    async fn set_account_fields(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        fields_sealed: &str,
        only_initiated: bool,
    ) -> StoreResult<bool>;
    /// The sealed fields of a live account of the project; `None` when it has none (or is gone).
    async fn account_fields(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<String>>;
}
