//! Request and response pieces shared by several resources: the SHARED-account `experimental`
//! block, user-id list rules and timestamp formatting.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::{
    domain::{AccountType, AclConfig, CallbackUrl},
    error::{ApiError, ApiResult},
};

/// A listing's page size: `default` when absent, else an integer from 1 to `max` (`20.0` counts
/// as 20: some clients type `limit` as a float), or an error for the `limit` parameter.
pub fn page_limit(raw: Option<&str>, default: i64, max: i64) -> Result<i64, String> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<f64>() {
        #[expect(clippy::cast_possible_truncation, reason = "a whole number from 1 to `max`: the cast is exact")]
        Ok(n) if n.fract() == 0.0 && (1.0..=max as f64).contains(&n) => Ok(n as i64),
        _ => Err(format!("must be an integer from 1 to {max}")),
    }
}

/// ISO-8601 with milliseconds and `Z`, as Composio sends.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Each user id is 1..=256 characters; reports the first bad index as `field[i]`.
pub fn user_id_items(ids: &[String]) -> Result<(), ValidationError> {
    match ids.iter().position(|id| id.is_empty() || id.chars().count() > 256) {
        None => Ok(()),
        Some(i) => {
            let mut err = ValidationError::new("item_length");
            err.add_param(Cow::from("index"), &i);
            err.message = Some(Cow::from("length must be 1..256"));
            Err(err)
        }
    }
}

/// What [`user_id_items`] and the length rule take: `null`, or at most 1000 ids of 1..256
/// characters.
fn user_ids_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let id = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(256));
    let ids = ArrayBuilder::new().items(id).max_items(Some(1000));
    OneOfBuilder::new().item(ids).item(ObjectBuilder::new().schema_type(Type::Null)).build().into()
}

/// `acl_config_for_shared` as sent.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
pub struct AclInput {
    pub allow_all_users: Option<bool>,
    /// At most 1000 ids, each 1..256 characters.
    #[validate(length(max = 1000), custom(function = "user_id_items"))]
    #[schema(schema_with = user_ids_schema)]
    pub allowed_user_ids: Option<Vec<String>>,
    /// At most 1000 ids, each 1..256 characters. The deny list always wins.
    #[validate(length(max = 1000), custom(function = "user_id_items"))]
    #[schema(schema_with = user_ids_schema)]
    pub not_allowed_user_ids: Option<Vec<String>>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

impl From<AclInput> for AclConfig {
    fn from(input: AclInput) -> Self {
        Self {
            allow_all_users: input.allow_all_users.unwrap_or(false),
            allowed_user_ids: input.allowed_user_ids.unwrap_or_default(),
            not_allowed_user_ids: input.not_allowed_user_ids.unwrap_or_default(),
        }
    }
}

/// `experimental` of a link request.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
pub struct LinkExperimental {
    /// PRIVATE (default) or SHARED; fixed at creation.
    pub account_type: Option<AccountType>,
    #[validate(nested)]
    pub acl_config_for_shared: Option<AclInput>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

impl LinkExperimental {
    /// The account type and ACL; an ACL on a PRIVATE account is refused with the exact message
    /// the SDKs look for.
    pub fn resolve(experimental: Option<Self>) -> ApiResult<(AccountType, Option<AclConfig>)> {
        let e = experimental.unwrap_or_default();
        let account_type = e.account_type.unwrap_or_default();
        match (account_type, e.acl_config_for_shared) {
            (AccountType::Private, Some(_)) => Err(ApiError::AclOnlyForShared),
            (AccountType::Private, None) => Ok((AccountType::Private, None)),
            (AccountType::Shared, acl) => Ok((AccountType::Shared, Some(acl.unwrap_or_default().into()))),
        }
    }
}

/// `experimental` of link and account responses.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExperimentalOut {
    pub account_type: AccountType,
    /// Present for SHARED accounts, with all three fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acl_config_for_shared: Option<AclConfig>,
}

impl ExperimentalOut {
    pub fn new(account_type: AccountType, acl: Option<&AclConfig>) -> Self {
        Self {
            account_type,
            acl_config_for_shared: match account_type {
                AccountType::Shared => Some(acl.cloned().unwrap_or_default()),
                AccountType::Private => None,
            },
        }
    }
}

/// An integer as JSON Schema counts one: `30` or `30.0` (a number with no fraction), as clients
/// that hold every number as a float send it. `30.5`, or a value outside `T`, stays an error.
pub fn whole_number<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    use serde::de::Error;
    // Within ±2^53 every whole f64 is an exact integer, so the cast below loses nothing.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i,
        #[expect(clippy::cast_possible_truncation, reason = "a whole number within ±2^53, checked here")]
        (None, Some(f)) if f.fract() == 0.0 && f.abs() <= EXACT => f as i64,
        _ => return Err(D::Error::custom(format!("invalid type: number `{n}`, expected an integer"))),
    };
    T::try_from(whole).map(Some).map_err(|_| D::Error::custom(format!("number `{n}` is out of range")))
}

/// Checks an optional callback URL against the operator's allowlist, naming the field.
pub fn callback(
    allowlist: &crate::domain::CallbackAllowlist,
    field: &str,
    raw: Option<&str>,
) -> ApiResult<Option<CallbackUrl>> {
    raw.map(|raw| allowlist.check(raw).map_err(|e| ApiError::field(field, e.to_string()))).transpose()
}

/// One page of a listing, in the shape every Composio list endpoint uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
    pub total_pages: i64,
    pub current_page: i64,
    pub total_items: i64,
}

impl<T: ToSchema> ListResponse<T> {
    /// Maps a store page into the response, computing `total_pages` from the page size.
    pub fn from_page<R>(page: crate::store::Page<R>, limit: i64, map: impl FnMut(R) -> T) -> Self {
        Self {
            total_pages: (page.total_items + limit - 1) / limit,
            current_page: page.current_page,
            total_items: page.total_items,
            next_cursor: page.next_cursor,
            items: page.items.into_iter().map(map).collect(),
        }
    }
}
