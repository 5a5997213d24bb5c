//! The built-in catalog of OAuth 2.0 providers ("toolkits").
//!
//! The catalog is data, not code: endpoints, default scopes and per-provider quirks (scope
//! separator, PKCE, how client credentials go to the token endpoint, extra authorization
//! parameters) live in `catalog/toolkits.yaml`, where adding or correcting a provider is a
//! reviewable one-entry change instead of a new match arm. The file is embedded with
//! [`include_str!`] at build time, so a release binary is self-contained and always runs the
//! catalog it was tested with: there is no runtime path to misconfigure and no drift between
//! replicas. It is parsed and validated once at start-up ([`Catalog::embedded`]) so a bad entry
//! stops the server from booting rather than breaking some user's connect flow later; after that
//! the [`Catalog`] is immutable and shared read-only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use crate::domain::ToolkitSlug;

/// The catalog source, compiled into the binary.
const EMBEDDED_YAML: &str = include_str!("../catalog/toolkits.yaml");

/// Authorization parameters the broker sets itself; a catalog entry may not override them.
const RESERVED_AUTHORIZATION_PARAMS: &[&str] =
    &["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"];

/// Every known provider, keyed by slug.
#[derive(Debug, Clone)]
pub struct Catalog {
    providers: BTreeMap<ToolkitSlug, Provider>,
}

/// One OAuth 2.0 provider as described in the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub slug: ToolkitSlug,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub logo: Option<String>,
    /// Absolute https URL; may contain `{field}` placeholders naming [`Provider::required_fields`].
    pub authorization_url: String,
    /// Absolute https URL; may contain `{field}` placeholders naming [`Provider::required_fields`].
    pub token_url: String,
    /// Requested when an auth config names no scopes. Empty only for providers without scopes.
    pub default_scopes: Vec<String>,
    /// Exactly what the provider expects between scopes in the `scope` parameter.
    pub scope_separator: String,
    /// Whether to send a PKCE S256 challenge and verifier.
    pub pkce: bool,
    /// Why PKCE is off: required when [`Provider::pkce`] is false, refused when it is true
    /// (design §5: PKCE on every provider that accepts it).
    #[serde(default)]
    pub pkce_off_reason: Option<String>,
    pub client_auth: ClientAuth,
    /// Added verbatim to the authorization URL's query.
    #[serde(default)]
    pub extra_authorization_params: BTreeMap<String, String>,
    /// Per-connection values (e.g. a tenant `subdomain`) substituted into the URLs.
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// Ids of the categories (see [`CATEGORIES`]) `GET toolkits/categories` lists.
    #[serde(default)]
    pub categories: Vec<String>,
    /// RFC 7009 token revocation endpoint, when the provider has one.
    #[serde(default)]
    pub revocation_url: Option<String>,
}

/// Every toolkit category: id (as `GET toolkits?category=` takes it) and display name.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("communication", "Communication"),
    ("crm", "CRM"),
    ("developer-tools", "Developer Tools"),
    ("finance", "Finance & Accounting"),
    ("productivity", "Productivity"),
    ("social-media", "Social Media"),
];

/// The display name of a category id, if it is one.
pub fn category_name(id: &str) -> Option<&'static str> {
    CATEGORIES.iter().find(|(c, _)| *c == id).map(|(_, name)| *name)
}

/// How the provider wants client credentials at its token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic `Authorization` header (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// Why a catalog document was refused. Messages name the offending toolkit and field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not a valid `toolkits:` document: {0}")]
    Yaml(#[source] serde_yaml::Error),
    #[error("toolkit {entry}: {location}{message}")]
    Entry {
        /// The entry's slug as written (if any) and its index, e.g. ``"`github` (toolkits[0])"``.
        entry: String,
        /// ``"field `x`: "`` when the error is inside a field, otherwise empty.
        location: String,
        message: String,
    },
    #[error("toolkit `{slug}`: duplicate slug (each slug may appear once)")]
    DuplicateSlug { slug: ToolkitSlug },
    #[error("toolkit `{slug}`: field `{field}`: invalid URL {url:?}: {reason}")]
    InvalidUrl { slug: ToolkitSlug, field: &'static str, url: String, reason: String },
    #[error("toolkit `{slug}`: field `{field}`: {reason}")]
    InvalidField { slug: ToolkitSlug, field: &'static str, reason: String },
}

/// The document's shape; entries are kept as YAML values so each can be reported by slug.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    toolkits: Vec<serde_yaml::Value>,
}

impl Catalog {
    /// Parses and validates the catalog embedded at build time.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_yaml(EMBEDDED_YAML)
    }

    /// Parses a `toolkits:` document and validates every entry.
    pub fn from_yaml(text: &str) -> Result<Self, CatalogError> {
        let document: Document = serde_yaml::from_str(text).map_err(CatalogError::Yaml)?;
        let mut providers = BTreeMap::new();
        for (index, value) in document.toolkits.into_iter().enumerate() {
            let provider = parse_entry(index, value)?;
            validate(&provider)?;
            if providers.contains_key(&provider.slug) {
                return Err(CatalogError::DuplicateSlug { slug: provider.slug });
            }
            providers.insert(provider.slug.clone(), provider);
        }
        Ok(Self { providers })
    }

    pub fn get(&self, slug: &ToolkitSlug) -> Option<&Provider> {
        self.providers.get(slug)
    }

    pub fn contains(&self, slug: &ToolkitSlug) -> bool {
        self.providers.contains_key(slug)
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Every provider, in slug order.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }
}

/// Deserializes one entry, reporting failures with the entry's slug and the failing field.
fn parse_entry(index: usize, value: serde_yaml::Value) -> Result<Provider, CatalogError> {
    let entry = match value.get("slug").and_then(serde_yaml::Value::as_str) {
        Some(slug) => format!("`{slug}` (toolkits[{index}])"),
        None => format!("at toolkits[{index}]"),
    };
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let location = if path.is_empty() || path == "." { String::new() } else { format!("field `{path}`: ") };
        CatalogError::Entry { entry, location, message: error.into_inner().to_string() }
    })
}

/// Checks what serde cannot: URL shape, placeholders, scopes and parameters.
fn validate(provider: &Provider) -> Result<(), CatalogError> {
    let slug = &provider.slug;
    let invalid =
        |field: &'static str, reason: String| CatalogError::InvalidField { slug: slug.clone(), field, reason };

    if provider.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }

    let mut declared = BTreeSet::new();
    for field in &provider.required_fields {
        if !is_identifier(field) {
            return Err(invalid("required_fields", format!("{field:?} must match [a-z][a-z0-9_]*")));
        }
        if !declared.insert(field.as_str()) {
            return Err(invalid("required_fields", format!("{field:?} is listed twice")));
        }
    }

    for (field, url) in [("authorization_url", &provider.authorization_url), ("token_url", &provider.token_url)] {
        check_url(url, &declared).map_err(|reason| CatalogError::InvalidUrl {
            slug: slug.clone(),
            field,
            url: url.clone(),
            reason,
        })?;
    }
    for category in &provider.categories {
        if category_name(category).is_none() {
            return Err(invalid("categories", format!("{category:?} is not one of the categories in catalog.rs")));
        }
    }
    if let Some(url) = &provider.revocation_url {
        check_url(url, &declared).map_err(|reason| CatalogError::InvalidUrl {
            slug: slug.clone(),
            field: "revocation_url",
            url: url.clone(),
            reason,
        })?;
    }
    if let Some(logo) = &provider.logo {
        check_url(logo, &BTreeSet::new()).map_err(|reason| CatalogError::InvalidUrl {
            slug: slug.clone(),
            field: "logo",
            url: logo.clone(),
            reason,
        })?;
    }

    match (provider.pkce, provider.pkce_off_reason.as_deref().map(str::trim)) {
        (false, None | Some("")) => {
            return Err(invalid(
                "pkce_off_reason",
                "is required when pkce is false: say why the provider cannot take PKCE".into(),
            ));
        }
        (true, Some(_)) => return Err(invalid("pkce_off_reason", "is only allowed when pkce is false".into())),
        _ => {}
    }

    let separator = &provider.scope_separator;
    if separator.is_empty() {
        return Err(invalid("scope_separator", "must not be empty".into()));
    }
    let mut seen = BTreeSet::new();
    for scope in &provider.default_scopes {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) {
            return Err(invalid("default_scopes", format!("{scope:?} must be non-empty and contain no whitespace")));
        }
        if scope.contains(separator.as_str()) {
            return Err(invalid("default_scopes", format!("{scope:?} contains the scope separator {separator:?}")));
        }
        if !seen.insert(scope.as_str()) {
            return Err(invalid("default_scopes", format!("{scope:?} is listed twice")));
        }
    }

    for (key, value) in &provider.extra_authorization_params {
        if key.trim().is_empty() {
            return Err(invalid("extra_authorization_params", "parameter names must not be empty".into()));
        }
        if RESERVED_AUTHORIZATION_PARAMS.contains(&key.as_str()) {
            return Err(invalid(
                "extra_authorization_params",
                format!("`{key}` is set by authlink and may not be overridden"),
            ));
        }
        if value.is_empty() {
            return Err(invalid("extra_authorization_params", format!("`{key}` has an empty value")));
        }
    }
    Ok(())
}

/// An absolute https URL with a host and no fragment or credentials, once every `{field}`
/// placeholder (each of which must be declared) is filled in.
fn check_url(raw: &str, declared: &BTreeSet<&str>) -> Result<(), String> {
    let mut filled = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("has an unmatched `}`".into());
        }
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("has an unclosed `{`")?;
        let name = &after[..close];
        if !is_identifier(name) {
            return Err(format!("placeholder {{{name}}} must match [a-z][a-z0-9_]*"));
        }
        if !declared.contains(name) {
            return Err(format!("placeholder {{{name}}} is not listed in required_fields"));
        }
        filled.push_str("placeholder");
        rest = &after[close + 1..];
    }
    filled.push_str(rest);

    let url = Url::parse(&filled).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!("must use https, not {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    Ok(())
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [&str; 25] = [
        "github",
        "gitlab",
        "gmail",
        "googlecalendar",
        "googledrive",
        "slack",
        "notion",
        "linear",
        "jira",
        "outlook",
        "discord",
        "dropbox",
        "hubspot",
        "salesforce",
        "zoom",
        "asana",
        "figma",
        "box",
        "spotify",
        "twitter",
        "linkedin",
        "airtable",
        "calendly",
        "clickup",
        "zendesk",
    ];

    /// Providers with no OAuth scopes at all (access is chosen in the app or by the user).
    const SCOPELESS: [&str; 2] = ["clickup", "notion"];

    fn slug(s: &str) -> ToolkitSlug {
        ToolkitSlug::parse(s).unwrap()
    }

    fn catalog() -> Catalog {
        Catalog::embedded().expect("embedded catalog must load")
    }

    /// A valid single entry; tests splice in one defect each.
    const VALID: &str = "
toolkits:
  - slug: acme
    name: Acme
    authorization_url: https://acme.example/oauth/authorize
    token_url: https://acme.example/oauth/token
    default_scopes: [read]
    scope_separator: \" \"
    pkce: true
    client_auth: client_secret_post
";

    fn err(yaml: &str) -> String {
        Catalog::from_yaml(yaml).expect_err("catalog should be rejected").to_string()
    }

    #[test]
    fn embedded_catalog_loads_with_every_required_toolkit() {
        let catalog = catalog();
        assert!(catalog.len() >= 30, "only {} toolkits", catalog.len());
        assert!(!catalog.is_empty());
        for required in REQUIRED {
            assert!(catalog.contains(&slug(required)), "missing required toolkit {required}");
            assert_eq!(catalog.get(&slug(required)).unwrap().slug.as_str(), required);
        }
        assert!(catalog.get(&slug("no-such-toolkit")).is_none());
        // Lookups go through the slug type, so differently-cased input finds the same entry.
        assert_eq!(catalog.get(&slug("GitHub")).unwrap().name, "GitHub");
    }

    #[test]
    fn iteration_is_in_slug_order() {
        let catalog = catalog();
        let iterated: Vec<&str> = catalog.iter().map(|p| p.slug.as_str()).collect();
        let mut sorted = iterated.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(iterated, sorted);
        assert_eq!(iterated.len(), catalog.len());
    }

    #[test]
    fn every_entry_is_complete() {
        for p in catalog().iter() {
            let s = p.slug.as_str();
            assert!(p.authorization_url.starts_with("https://"), "{s}: authorization_url");
            assert!(p.token_url.starts_with("https://"), "{s}: token_url");
            assert!(!p.scope_separator.is_empty(), "{s}: scope_separator");
            assert!(!p.name.is_empty() && !p.description.is_empty(), "{s}: name/description");
            if SCOPELESS.contains(&s) {
                assert!(p.default_scopes.is_empty(), "{s} is listed as scopeless but has scopes");
            } else {
                assert!(!p.default_scopes.is_empty(), "{s}: default_scopes is empty");
            }
            let placeholders = p.authorization_url.contains('{') || p.token_url.contains('{');
            assert_eq!(placeholders, !p.required_fields.is_empty(), "{s}: placeholders vs required_fields");
        }
    }

    #[test]
    fn google_entries_ask_for_offline_access() {
        let google: Vec<Provider> = catalog()
            .iter()
            .filter(|p| p.authorization_url.starts_with("https://accounts.google.com/"))
            .cloned()
            .collect();
        let slugs: Vec<&str> = google.iter().map(|p| p.slug.as_str()).collect();
        for expected in ["gmail", "googlecalendar", "googledrive"] {
            assert!(slugs.contains(&expected), "{expected} is not a Google entry");
        }
        for p in &google {
            assert_eq!(
                p.extra_authorization_params.get("access_type").map(String::as_str),
                Some("offline"),
                "{}",
                p.slug
            );
            assert_eq!(p.token_url, "https://oauth2.googleapis.com/token", "{}", p.slug);
        }
    }

    #[test]
    fn provider_quirks_are_recorded() {
        let catalog = catalog();
        let get = |s: &str| catalog.get(&slug(s)).unwrap().clone();
        assert_eq!(get("slack").scope_separator, ",");
        assert_eq!(get("notion").client_auth, ClientAuth::ClientSecretBasic);
        assert_eq!(get("notion").extra_authorization_params.get("owner").map(String::as_str), Some("user"));
        assert_eq!(
            get("jira").extra_authorization_params.get("audience").map(String::as_str),
            Some("api.atlassian.com")
        );
        assert_eq!(get("zendesk").required_fields, ["subdomain"]);
        assert!(get("zendesk").authorization_url.contains("{subdomain}"));
        assert!(!get("linkedin").pkce);
    }

    #[test]
    fn a_valid_document_parses() {
        let catalog = Catalog::from_yaml(VALID).unwrap();
        let acme = catalog.get(&slug("acme")).unwrap();
        assert_eq!(acme.client_auth, ClientAuth::ClientSecretPost);
        assert!(acme.description.is_empty() && acme.logo.is_none() && acme.required_fields.is_empty());
        assert!(Catalog::from_yaml("toolkits: []\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_duplicate_slugs_including_by_case() {
        let second = VALID.replace("toolkits:\n", "").replace("slug: acme", "slug: ACME");
        let message = err(&format!("{VALID}{second}"));
        assert!(message.contains("`acme`") && message.contains("duplicate slug"), "{message}");
    }

    #[test]
    fn rejects_non_https_urls() {
        let message = err(&VALID.replace("https://acme.example/oauth/token", "http://acme.example/oauth/token"));
        assert!(
            message.contains("`acme`") && message.contains("`token_url`") && message.contains("https"),
            "{message}"
        );

        let message = err(&VALID.replace("https://acme.example/oauth/authorize", "/oauth/authorize"));
        assert!(message.contains("`acme`") && message.contains("`authorization_url`"), "{message}");
    }

    #[test]
    fn rejects_unknown_client_auth() {
        let message = err(&VALID.replace("client_secret_post", "client_secret_jwt"));
        assert!(message.contains("`acme`") && message.contains("`client_auth`"), "{message}");
        assert!(message.contains("client_secret_jwt"), "{message}");
    }

    #[test]
    fn rejects_missing_fields() {
        let message = err(&VALID.replace("    token_url: https://acme.example/oauth/token\n", ""));
        assert!(message.contains("`acme`") && message.contains("token_url"), "{message}");

        let message = err(&VALID.replace("  - slug: acme\n    name: Acme", "  - name: Acme"));
        assert!(message.contains("toolkits[0]") && message.contains("slug"), "{message}");
    }

    #[test]
    fn rejects_unknown_fields() {
        let message = err(&VALID.replace("    pkce: true\n", "    pkce: true\n    extra_authorisation_params: {}\n"));
        assert!(message.contains("`acme`") && message.contains("extra_authorisation_params"), "{message}");
    }

    #[test]
    fn rejects_empty_scope_separator() {
        let message = err(&VALID.replace("scope_separator: \" \"", "scope_separator: \"\""));
        assert!(message.contains("`acme`") && message.contains("`scope_separator`"), "{message}");
    }

    #[test]
    fn rejects_scopes_containing_the_separator() {
        let message = err(&VALID.replace("[read]", "[\"read write\"]"));
        assert!(message.contains("`acme`") && message.contains("`default_scopes`"), "{message}");
    }

    #[test]
    fn placeholders_must_be_declared() {
        let tenant = VALID.replace("https://acme.example/oauth/token", "https://{subdomain}.acme.example/oauth/token");
        let message = err(&tenant);
        assert!(
            message.contains("`acme`") && message.contains("`token_url`") && message.contains("required_fields"),
            "{message}"
        );

        let declared = format!("{tenant}    required_fields: [subdomain]\n");
        let catalog = Catalog::from_yaml(&declared).unwrap();
        assert_eq!(catalog.get(&slug("acme")).unwrap().required_fields, ["subdomain"]);

        let message =
            err(&VALID.replace("https://acme.example/oauth/token", "https://{subdomain.acme.example/oauth/token"));
        assert!(message.contains("`token_url`") && message.contains("unclosed"), "{message}");
    }

    /// Design §5: PKCE on every provider that accepts it. The embedded catalog turns it off for
    /// exactly the providers whose documentation says they cannot take it from a confidential
    /// web client, each with its reason.
    #[test]
    fn pkce_is_off_only_with_a_reason() {
        let off: Vec<(String, String)> = catalog()
            .iter()
            .filter(|p| !p.pkce)
            .map(|p| (p.slug.to_string(), p.pkce_off_reason.clone().unwrap_or_default()))
            .collect();
        let slugs: Vec<&str> = off.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(slugs, ["linkedin", "slack"], "PKCE off elsewhere than the documented exceptions");
        for (slug, reason) in &off {
            assert!(reason.len() >= 40, "{slug}: pkce_off_reason too thin: {reason:?}");
        }
        assert!(catalog().iter().filter(|p| p.pkce).all(|p| p.pkce_off_reason.is_none()));

        let off = VALID.replace("pkce: true", "pkce: false");
        let message = err(&off);
        assert!(message.contains("`acme`") && message.contains("`pkce_off_reason`"), "{message}");
        let message = err(&off.replace("pkce: false", "pkce: false\n    pkce_off_reason: \"  \""));
        assert!(message.contains("`pkce_off_reason`") && message.contains("required"), "{message}");
        let with_reason = off.replace("pkce: false", "pkce: false\n    pkce_off_reason: the provider rejects it");
        let catalog = Catalog::from_yaml(&with_reason).unwrap();
        assert_eq!(catalog.get(&slug("acme")).unwrap().pkce_off_reason.as_deref(), Some("the provider rejects it"));
        let message = err(&VALID.replace("pkce: true", "pkce: true\n    pkce_off_reason: not needed"));
        assert!(message.contains("`pkce_off_reason`") && message.contains("only allowed"), "{message}");
    }

    #[test]
    fn rejects_reserved_authorization_params() {
        let message = err(&format!("{VALID}    extra_authorization_params: {{redirect_uri: https://evil.example}}\n"));
        assert!(message.contains("`acme`") && message.contains("`extra_authorization_params`"), "{message}");
        assert!(message.contains("redirect_uri"), "{message}");
    }

    #[test]
    fn rejects_invalid_slugs_and_bad_documents() {
        let message = err(&VALID.replace("slug: acme", "slug: \"ac me\""));
        assert!(message.contains("`ac me`") && message.contains("`slug`"), "{message}");
        assert!(matches!(Catalog::from_yaml("toolkits: [").unwrap_err(), CatalogError::Yaml(_)));
        assert!(matches!(Catalog::from_yaml("providers: []\n").unwrap_err(), CatalogError::Yaml(_)));
    }

    #[test]
    fn categories_and_revocation_urls_are_checked() {
        assert!(catalog().iter().all(|p| !p.categories.is_empty()), "every catalog toolkit has a category");
        let message = err(&format!("{VALID}    categories: [nonsense]\n"));
        assert!(message.contains("`acme`") && message.contains("`categories`"), "{message}");
        let message = err(&format!("{VALID}    revocation_url: http://acme.example/revoke\n"));
        assert!(message.contains("`revocation_url`") && message.contains("https"), "{message}");
        let ok = Catalog::from_yaml(&format!(
            "{VALID}    categories: [crm]\n    revocation_url: https://acme.example/oauth/revoke\n"
        ))
        .unwrap();
        let acme = ok.get(&slug("acme")).unwrap();
        assert_eq!(acme.categories, ["crm"]);
        assert_eq!(acme.revocation_url.as_deref(), Some("https://acme.example/oauth/revoke"));
        assert_eq!(category_name("crm"), Some("CRM"));
        assert_eq!(category_name("nope"), None);
    }
}
