//! `toolkits`: list, retrieve, retrieve several (`multi`) and categories (issue 12), in the
//! shapes `composio` 0.30 and `@composio/core` 0.21 parse. The data comes from
//! [`service::toolkits`](crate::service::toolkits): the catalog plus the project's custom
//! toolkits (known through its auth configs).

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{
    common::{ListResponse, page_limit},
    extract::{FieldErrors, LenientQuery, Project, ValidatedJson},
};
use crate::{
    AppState,
    catalog::AuthScheme,
    domain::ToolkitSlug,
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::toolkits::{self, AuthField, CATALOG_DATE, Kind, ManagedBy, Toolkit, ToolkitQuery},
    store::Cursor,
};

/// One field of an auth scheme (`displayName` is camelCase on the wire, as Composio's).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthFieldOut {
    pub name: String,
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub default: Option<String>,
    pub is_secret: bool,
    pub user_visible: bool,
}

impl From<&AuthField> for AuthFieldOut {
    fn from(f: &AuthField) -> Self {
        Self {
            name: f.name.clone(),
            display_name: f.display_name.clone(),
            description: f.description.clone(),
            kind: "string",
            required: f.required,
            default: None,
            is_secret: f.is_secret,
            user_visible: true,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldGroup {
    pub required: Vec<AuthFieldOut>,
    pub optional: Vec<AuthFieldOut>,
}

impl FieldGroup {
    fn of(fields: &[AuthField]) -> Self {
        Self {
            required: fields.iter().filter(|f| f.required).map(Into::into).collect(),
            optional: fields.iter().filter(|f| !f.required).map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemeFields {
    pub auth_config_creation: FieldGroup,
    pub connected_account_initiation: FieldGroup,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderEndpoints {
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
}

/// Where one value of an `API_KEY` / `BEARER_TOKEN` connection goes on the provider's API calls:
/// `{in: header, name: "DD-API-KEY", field: "api_key"}` means the header `DD-API-KEY` carries
/// `prefix` + the account's `state.val.api_key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacementOut {
    /// `header` or `query`.
    #[serde(rename = "in")]
    pub location: &'static str,
    /// The header or query parameter name.
    pub name: String,
    /// Put before the value (`"Bearer "`), when the provider wants one.
    pub prefix: Option<String>,
    /// The connection field (`state.val` member) whose value is placed.
    pub field: String,
}

/// The toolkit's auth scheme: `OAUTH2`, `API_KEY`, `BEARER_TOKEN` or `BASIC`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigDetail {
    pub name: &'static str,
    pub mode: &'static str,
    pub fields: SchemeFields,
    /// Scopes authlink always requests for the toolkit (the catalog's defaults).
    pub required_scopes: Vec<String>,
    pub deprecated_auth_provider_details: ProviderEndpoints,
    /// authlink's addition: where each value of an `API_KEY` / `BEARER_TOKEN` connection goes on
    /// the provider's API calls, one entry per header or query parameter (several for providers
    /// such as Trello or Datadog). Empty for `OAUTH2` (the access token, as `Authorization:
    /// Bearer`) and `BASIC` (always `Authorization: Basic base64(username:password)`).
    pub credential_placements: Vec<PlacementOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryOut {
    pub id: String,
    /// The same as `id`: retrieve responses name it `slug`, listings `id`.
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitMeta {
    pub description: String,
    pub logo: String,
    pub categories: Vec<CategoryOut>,
    pub created_at: &'static str,
    pub updated_at: &'static str,
    /// authlink brokers connections only: it serves no tools or triggers.
    pub tools_count: u32,
    pub triggers_count: u32,
    pub version: &'static str,
    pub available_versions: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeprecatedInfo {
    #[serde(rename = "toolkitId")]
    pub toolkit_id: String,
    #[serde(rename = "rawProxyInfoByAuthSchemes")]
    #[schema(value_type = Vec<Object>)]
    pub raw_proxy_info_by_auth_schemes: Vec<serde_json::Value>,
}

/// A toolkit, the same object in list, retrieve and `multi` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitResponse {
    pub slug: String,
    pub name: String,
    /// `native` (authlink's catalog) or `custom` (known through one of the project's auth configs).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub enabled: bool,
    pub is_local_toolkit: bool,
    pub no_auth: bool,
    pub auth_schemes: Vec<&'static str>,
    /// Always empty: authlink manages no OAuth apps.
    pub composio_managed_auth_schemes: Vec<String>,
    /// Always empty, as `composio_managed_auth_schemes`.
    #[schema(value_type = Vec<Object>)]
    pub composio_managed_auth: Vec<serde_json::Value>,
    pub auth_config_details: Vec<AuthConfigDetail>,
    pub meta: ToolkitMeta,
    pub deprecated: DeprecatedInfo,
}

/// The display name of a scheme, as Composio's toolkit details name it.
fn scheme_name(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::OAuth2 => "OAuth 2.0",
        AuthScheme::ApiKey => "API Key",
        AuthScheme::BearerToken => "Bearer Token",
        AuthScheme::Basic => "Basic Auth",
        AuthScheme::OAuth1 => "OAuth 1.0a",
    }
}

impl From<Toolkit> for ToolkitResponse {
    fn from(t: Toolkit) -> Self {
        let detail = AuthConfigDetail {
            name: scheme_name(t.auth_scheme),
            mode: t.auth_scheme.as_str(),
            fields: SchemeFields {
                auth_config_creation: FieldGroup::of(&t.auth_config_fields),
                connected_account_initiation: FieldGroup::of(&t.initiation_fields),
            },
            required_scopes: t.default_scopes,
            deprecated_auth_provider_details: ProviderEndpoints {
                authorization_url: t.authorization_url,
                token_url: t.token_url,
            },
            credential_placements: t
                .placements
                .into_iter()
                .map(|p| PlacementOut { location: p.location, name: p.name, prefix: p.prefix, field: p.field })
                .collect(),
        };
        Self {
            kind: if t.is_custom { "custom" } else { "native" },
            enabled: true,
            is_local_toolkit: false,
            no_auth: false,
            auth_schemes: vec![t.auth_scheme.as_str()],
            composio_managed_auth_schemes: Vec::new(),
            composio_managed_auth: Vec::new(),
            auth_config_details: vec![detail],
            meta: ToolkitMeta {
                description: t.description,
                logo: t.logo,
                categories: t
                    .categories
                    .into_iter()
                    .map(|(id, name)| CategoryOut { slug: id.clone(), id, name })
                    .collect(),
                created_at: CATALOG_DATE,
                updated_at: CATALOG_DATE,
                tools_count: 0,
                triggers_count: 0,
                version: "latest",
                available_versions: vec!["latest"],
            },
            deprecated: DeprecatedInfo { toolkit_id: t.slug.to_string(), raw_proxy_info_by_auth_schemes: Vec::new() },
            name: t.name,
            slug: t.slug.to_string(),
        }
    }
}

/// Query of the listing (`include_deprecated`, `user_id` and `sort_by` are accepted and change
/// nothing: authlink has no deprecated toolkits, no per-user toolkits and no usage figures, so
/// the order is always by slug).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A category id from `GET toolkits/categories`.
    pub category: Option<String>,
    /// `all` (default), `composio` (matches nothing: authlink manages no OAuth apps) or `project`
    /// (toolkits this project has an auth config for).
    pub managed_by: Option<String>,
    /// `all` (default), `native` (the catalog) or `custom` (known only through an auth config).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// `usage` or `alphabetically`; both sort by slug.
    pub sort_by: Option<String>,
    /// Case-insensitive substring of slug, name or description.
    pub search: Option<String>,
    pub cursor: Option<String>,
    /// 1..=1000, default 1000.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl ListQuery {
    fn into_query(self) -> ApiResult<ToolkitQuery> {
        let mut e = FieldErrors::default();
        let limit = e.check("limit", page_limit(self.limit.as_deref(), 1000, 1000)).unwrap_or(1000);
        let managed_by = match self.managed_by.as_deref() {
            None | Some("all") => ManagedBy::All,
            Some("composio") => ManagedBy::Composio,
            Some("project") => ManagedBy::Project,
            Some(_) => {
                e.push("managed_by", "must be all, composio or project");
                ManagedBy::All
            }
        };
        let kind = match self.kind.as_deref() {
            None | Some("all") => Kind::All,
            Some("native") => Kind::Native,
            Some("custom") => Kind::Custom,
            Some(_) => {
                e.push("type", "must be all, native or custom");
                Kind::All
            }
        };
        if let Some(sort) = self.sort_by.as_deref()
            && !matches!(sort, "usage" | "alphabetically")
        {
            e.push("sort_by", "must be usage or alphabetically");
        }
        if let Some(search) = &self.search
            && search.chars().count() > 256
        {
            e.push("search", "must be at most 256 characters");
        }
        let after = self.cursor.as_deref().and_then(|c| {
            e.check(
                "cursor",
                Cursor::decode(c)
                    .filter(|cur| ToolkitSlug::parse(&cur.id).is_ok())
                    .ok_or("is not a cursor returned by this API"),
            )
        });
        e.finish()?;
        Ok(ToolkitQuery { category: self.category, search: self.search, kind, managed_by, slugs: None, limit, after })
    }
}

/// Lists the toolkits this project can connect: the catalog's and its custom ones.
#[utoipa::path(get, path = "/toolkits", tag = "toolkits", operation_id = "list_toolkits",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<ToolkitResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    LenientQuery(q): LenientQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<ToolkitResponse>>> {
    let query = q.into_query()?;
    let page = toolkits::list(&state, project, &query).await?;
    Ok(Json(ListResponse::from_page(page, query.limit, Into::into)))
}

/// Reads one toolkit with the fields its auth config and connections take.
#[utoipa::path(get, path = "/toolkits/{slug}", tag = "toolkits", operation_id = "get_toolkit",
    params(("slug" = String, Path, description = "Toolkit slug (any case)"),
           ("version" = Option<String>, Query, description = "Accepted and ignored: authlink has one version")),
    responses(
        (status = 200, body = ToolkitResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Project(project, _): Project,
    Path(slug): Path<String>,
) -> ApiResult<Json<ToolkitResponse>> {
    let slug = ToolkitSlug::parse(&slug).map_err(|e| ApiError::field("slug", e.to_string()))?;
    Ok(Json(toolkits::get(&state, project, &slug).await?.into()))
}

/// Body of `POST toolkits/multi`: the listing's filters in a body, plus the slugs wanted.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
pub struct MultiRequest {
    /// Only these toolkits (0..=1000 slugs; unknown ones are left out); absent means all.
    #[validate(length(max = 1000))]
    #[schema(max_items = 1000)]
    pub toolkits: Option<Vec<String>>,
    pub category: Option<String>,
    pub managed_by: Option<String>,
    pub sort_by: Option<String>,
    #[validate(length(max = 256))]
    #[schema(max_length = 256)]
    pub search: Option<String>,
    /// 1..=1000, default 1000.
    pub limit: Option<f64>,
    pub cursor: Option<String>,
}

/// Reads several toolkits at once: the listing's filters and paging, restricted to `toolkits`.
#[utoipa::path(post, path = "/toolkits/multi", tag = "toolkits", operation_id = "get_toolkits_multi",
    request_body = MultiRequest,
    responses(
        (status = 200, body = ListResponse<ToolkitResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn multi(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<MultiRequest>,
) -> ApiResult<Json<ListResponse<ToolkitResponse>>> {
    let mut e = FieldErrors::default();
    let slugs: Option<Vec<ToolkitSlug>> = body.toolkits.as_ref().map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| e.check(format!("toolkits[{i}]"), ToolkitSlug::parse(s).map_err(|e| e.to_string())))
            .collect()
    });
    e.finish()?;
    let list = ListQuery {
        category: body.category,
        managed_by: body.managed_by,
        kind: None,
        sort_by: body.sort_by,
        search: body.search,
        cursor: body.cursor,
        limit: body.limit.map(|l| l.to_string()),
    };
    let query = ToolkitQuery { slugs, ..list.into_query()? };
    let page = toolkits::list(&state, project, &query).await?;
    Ok(Json(ListResponse::from_page(page, query.limit, Into::into)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryItem {
    pub id: &'static str,
    pub name: &'static str,
}

/// The categories of the catalog's toolkits.
#[utoipa::path(get, path = "/toolkits/categories", tag = "toolkits", operation_id = "list_toolkit_categories",
    responses(
        (status = 200, body = ListResponse<CategoryItem>),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn categories(State(state): State<AppState>, _project: Project) -> Json<ListResponse<CategoryItem>> {
    let items: Vec<CategoryItem> =
        toolkits::categories(&state).into_iter().map(|(id, name)| CategoryItem { id, name }).collect();
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    Json(ListResponse { items, next_cursor: None, total_pages: 1, current_page: 1, total_items: total })
}

/// Toolkit calls of the SDKs that are about tools, which authlink does not serve (it brokers
/// connections only): answered with a 400 that says so, never a bare 404.
fn no_tools(what: &str) -> ApiError {
    ApiError::Unsupported(format!(
        "{what} is not supported by authlink: it brokers connections and serves no tools, so it has no tool versions or per-tool scopes; request the scopes you need in the auth config's credentials.scopes"
    ))
}

/// Refused: authlink has no toolkit versions (`toolkits.changelog`).
#[utoipa::path(get, path = "/toolkits/changelog", tag = "toolkits", operation_id = "get_toolkits_changelog",
    responses((status = 400, description = "Not supported", body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn changelog(_project: Project) -> ApiError {
    no_tools("GET toolkits/changelog")
}

/// Refused: authlink serves no tools to recommend scopes for (`toolkits.recommend_scopes`).
#[utoipa::path(post, path = "/toolkits/{slug}/scopes/recommended", tag = "toolkits", operation_id = "recommend_toolkit_scopes",
    params(("slug" = String, Path, description = "Toolkit slug")),
    request_body = Object,
    responses((status = 400, description = "Not supported", body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn recommend_scopes(_project: Project, Path(_slug): Path<String>) -> ApiError {
    no_tools("POST toolkits/{slug}/scopes/recommended")
}

/// Refused: no per-tool grant contexts (`toolkits.list_grant_contexts`).
#[utoipa::path(get, path = "/toolkits/{slug}/scopes/grant_context", tag = "toolkits", operation_id = "list_toolkit_grant_contexts",
    params(("slug" = String, Path, description = "Toolkit slug")),
    responses((status = 400, description = "Not supported", body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub async fn grant_context(_project: Project, Path(_slug): Path<String>) -> ApiError {
    no_tools("GET toolkits/{slug}/scopes/grant_context")
}
