//! The built-in catalog of providers ("toolkits"): OAuth 2.0, API key, bearer token and basic.
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

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::ToolkitSlug;

/// The catalog source, compiled into the binary.
const EMBEDDED_YAML: &str = include_str!("../catalog/toolkits.yaml");

/// The pattern of a field that is one DNS label (a tenant `subdomain`): what the catalog's
/// OAUTH2 fields and the Nango importer use.
pub const HOST_LABEL_PATTERN: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// Every known provider, keyed by slug.
#[derive(Debug, Clone)]
pub struct Catalog {
    providers: BTreeMap<ToolkitSlug, Provider>,
    /// Entries of loaded files that were not read (providers of a Nango file in a mode authlink
    /// does not import), as
    /// ``"<file>: <name> (auth_mode <mode>)"``, for the operator to see.
    skipped: Vec<String>,
}

mod field_error;
pub mod fields;
pub mod nango;
mod oauth1;
mod oauth2;
mod scheme;
mod validate;

pub use oauth1::{OAuth1Facts, SignatureMethod, Transmission};
pub use oauth2::{ClientAuth, OAuthFacts, Quirk};
pub use scheme::{AuthScheme, Credential, CredentialIn, Placements};

pub use fields::{FieldError, FieldRule, FieldSpec, ValidatedFields, expand_template, validate_fields};
use validate::{find_line, find_nango_line, parse_entry, validate};

/// One provider as described in the catalog: what every entry has, its auth scheme, the OAuth
/// facts of an `OAUTH2` entry ([`Provider::oauth`]), and the per-connection [`FieldSpec`]s.
#[derive(Debug, Clone)]
pub struct Provider {
    pub slug: ToolkitSlug,
    pub name: String,
    pub description: String,
    /// The provider's developer documentation the entry's facts come from (https).
    pub source: String,
    pub logo: Option<String>,
    /// Ids of the categories (see [`CATEGORIES`]) `GET toolkits/categories` lists.
    pub categories: Vec<String>,
    pub auth_scheme: AuthScheme,
    /// The OAuth 2.0 facts: `Some` exactly when [`Provider::auth_scheme`] is `OAUTH2`.
    pub oauth: Option<OAuthFacts>,
    /// The OAuth 1.0a facts: `Some` exactly when [`Provider::auth_scheme`] is `OAUTH1`.
    pub oauth1: Option<OAuth1Facts>,
    /// Where the values of an `API_KEY` / `BEARER_TOKEN` entry go on API calls, one placement
    /// per value (empty on `OAUTH2` and `BASIC` entries, and where the catalog names none).
    pub credential: Vec<Credential>,
    /// The API's base URL; may contain `{field}` templates.
    pub base_url: Option<String>,
    /// What is supplied per connection (by the user on the hosted form, or by the app through
    /// the API), in the catalog's order.
    pub fields: Vec<FieldSpec>,
}

impl Provider {
    /// The OAuth facts of an `OAUTH2` entry; `None` for `API_KEY` / `BEARER_TOKEN` / `BASIC`.
    pub fn oauth(&self) -> Option<&OAuthFacts> {
        self.oauth.as_ref()
    }

    /// The field named `name`, if the entry has one.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names of the fields the entry's URLs are built with (`{subdomain}`), in field order.
    pub fn template_fields(&self) -> Vec<&str> {
        let templates = self.templates();
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .filter(|n| templates.iter().any(|t| t.contains(&format!("{{{n}}}"))))
            .collect()
    }

    /// Every URL of the entry that may hold `{field}` templates: base URL and OAuth endpoints.
    pub fn templates(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = self.base_url.iter().map(String::as_str).collect();
        if let Some(o) = &self.oauth {
            urls.extend([o.authorization_url.as_str(), o.token_url.as_str()]);
            urls.extend(o.revocation_url.as_deref());
        }
        if let Some(o) = &self.oauth1 {
            urls.extend([o.request_token_url.as_str(), o.authorize_url.as_str(), o.access_token_url.as_str()]);
        }
        urls
    }

    /// Each placement with the field whose value it carries (`field`, else the first secret
    /// field), in catalog order: what an app or proxy needs to build the provider's API calls.
    /// The validator guarantees every named field exists, so nothing is dropped for a valid entry.
    pub fn placements(&self) -> Vec<(&Credential, &FieldSpec)> {
        self.credential
            .iter()
            .filter_map(|c| {
                let field = match c.field.as_deref() {
                    Some(name) => self.field(name),
                    None => self.fields.iter().find(|f| f.secret),
                };
                field.map(|f| (c, f))
            })
            .collect()
    }

    /// The field holding the key of an `API_KEY` / `BEARER_TOKEN` entry (what Composio's
    /// `generic_api_key` means): the first placed secret, else the first secret field.
    pub fn credential_field(&self) -> Option<&FieldSpec> {
        self.placements()
            .into_iter()
            .map(|(_, f)| f)
            .find(|f| f.secret)
            .or_else(|| self.fields.iter().find(|f| f.secret))
    }
}

/// Every toolkit category: id (as `GET toolkits?category=` takes it) and display name.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("ai", "AI & Machine Learning"),
    ("analytics", "Analytics"),
    ("cloud", "Cloud & Infrastructure"),
    ("communication", "Communication"),
    ("crm", "CRM"),
    ("design", "Design"),
    ("developer-tools", "Developer Tools"),
    ("e-commerce", "E-commerce"),
    ("finance", "Finance & Accounting"),
    ("hr", "HR"),
    ("marketing", "Marketing"),
    ("productivity", "Productivity"),
    ("social-media", "Social Media"),
    ("support", "Customer Support"),
    ("video", "Video"),
];

/// The display name of a category id, if it is one.
pub fn category_name(id: &str) -> Option<&'static str> {
    CATEGORIES.iter().find(|(c, _)| *c == id).map(|(_, name)| *name)
}

/// Why a catalog file was refused: the file, the line (when known) and what is wrong, naming the
/// toolkit and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {kind}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct CatalogError {
    /// The file as given (`catalog/toolkits.yaml` for the embedded catalog).
    pub file: String,
    /// 1-based line of the offending entry or field, when it can be told.
    pub line: Option<usize>,
    pub kind: Box<CatalogErrorKind>,
}

/// What is wrong with a catalog file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogErrorKind {
    #[error("not a valid catalog document: {0}")]
    Yaml(String),
    #[error("cannot read the file: {0}")]
    Io(String),
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

impl CatalogErrorKind {
    /// The field the error is about, when it is about one (used to find its line).
    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidUrl { field, .. } | Self::InvalidField { field, .. } => Some(field),
            Self::DuplicateSlug { .. } => Some("slug"),
            _ => None,
        }
    }
}

/// The document's shape; entries are kept as YAML values so each can be reported by slug.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    toolkits: Vec<serde_norway::Value>,
}

/// The name the embedded catalog is reported under.
pub const EMBEDDED_FILE: &str = "catalog/toolkits.yaml";

impl Catalog {
    /// Parses and validates the catalog embedded at build time.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_yaml_file(EMBEDDED_FILE, EMBEDDED_YAML)
    }

    /// The embedded catalog plus every file of `dir` (when given), as `AUTHLINK_CATALOG_DIR`
    /// configures it: see [`Catalog::with_dir`].
    pub fn load(dir: Option<&std::path::Path>) -> Result<Self, CatalogError> {
        let catalog = Self::embedded()?;
        match dir {
            Some(dir) => catalog.with_dir(dir),
            None => Ok(catalog),
        }
    }

    /// Adds (or, by slug, replaces) the entries of every `*.yaml`/`*.yml` file in `dir`, read in
    /// name order. Each file is either authlink's `toolkits:` format or Nango's `providers.yaml`
    /// format ([`crate::catalog::nango`]); both are validated like the embedded catalog. A slug
    /// defined by two files of the directory is refused (which one wins would be an accident).
    pub fn with_dir(mut self, dir: &std::path::Path) -> Result<Self, CatalogError> {
        let io = |file: String, e: std::io::Error| CatalogError {
            file,
            line: None,
            kind: Box::new(CatalogErrorKind::Io(e.to_string())),
        };
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| io(shown.clone(), e))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io(shown.clone(), e))?.path();
            let yaml = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "yaml" || e == "yml");
            if yaml && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut from_dir: BTreeMap<ToolkitSlug, String> = BTreeMap::new();
        for path in files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| io(name.clone(), e))?;
            let file = Self::from_yaml_file(&name, &text)?;
            self.skipped.extend(file.skipped);
            for (slug, provider) in file.providers {
                if let Some(other) = from_dir.insert(slug.clone(), name.clone()) {
                    let line = find_line(&text, Some(slug.as_str()), Some("slug"));
                    return Err(CatalogError {
                        file: name,
                        line,
                        kind: Box::new(CatalogErrorKind::InvalidField {
                            slug,
                            field: "slug",
                            reason: format!("is also defined in {other}"),
                        }),
                    });
                }
                self.providers.insert(slug, provider);
            }
        }
        Ok(self)
    }

    /// Parses a `toolkits:` document and validates every entry (errors name the file `<input>`).
    pub fn from_yaml(text: &str) -> Result<Self, CatalogError> {
        Self::from_yaml_file("<input>", text)
    }

    /// Parses one catalog file, in authlink's `toolkits:` format or Nango's `providers.yaml`
    /// format (a mapping of provider names with no `toolkits` key), and validates every entry.
    pub fn from_yaml_file(file: &str, text: &str) -> Result<Self, CatalogError> {
        let at = |line: Option<usize>, kind: CatalogErrorKind| CatalogError {
            file: file.to_owned(),
            line,
            kind: Box::new(kind),
        };
        let root: serde_norway::Value = serde_norway::from_str(text)
            .map_err(|e| at(e.location().map(|l| l.line()), CatalogErrorKind::Yaml(e.to_string())))?;
        let mut skipped = Vec::new();
        let mut is_nango = false;
        let values: Vec<(usize, serde_norway::Value)> = match &root {
            serde_norway::Value::Mapping(m) if !m.contains_key("toolkits") && !m.is_empty() => {
                let (values, skips) = nango::convert(m).map_err(|(slug, field, message)| {
                    at(
                        find_nango_line(text, &slug, field.as_deref()),
                        CatalogErrorKind::Entry {
                            entry: format!("`{slug}`"),
                            location: field.map(|f| format!("field `{f}`: ")).unwrap_or_default(),
                            message,
                        },
                    )
                })?;
                skipped.extend(skips.into_iter().map(|s| format!("{file}: {s}")));
                is_nango = true;
                values
            }
            _ => {
                let document: Document = serde_norway::from_value(root)
                    .map_err(|e| at(e.location().map(|l| l.line()), CatalogErrorKind::Yaml(e.to_string())))?;
                document.toolkits.into_iter().enumerate().collect()
            }
        };
        let mut providers = BTreeMap::new();
        for (index, value) in values {
            let written_slug = value.get("slug").and_then(serde_norway::Value::as_str).map(str::to_owned);
            let line_of = |field: Option<&str>| match (is_nango, written_slug.as_deref()) {
                (true, Some(name)) => find_nango_line(text, name, field.map(nango::field_name)),
                _ => find_line(text, written_slug.as_deref(), field),
            };
            let provider = parse_entry(index, value).map_err(|(field, kind)| at(line_of(field.as_deref()), kind))?;
            let locate = |kind: CatalogErrorKind| {
                let line = line_of(kind.field());
                at(line, kind)
            };
            validate(&provider).map_err(locate)?;
            if providers.contains_key(&provider.slug) {
                // The duplicate is the later entry: the last line naming the slug, any case.
                let wanted = provider.slug.as_str().to_owned();
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| {
                        let t = l.trim_start().trim_start_matches('-').trim_start();
                        t.strip_prefix("slug:")
                            .is_some_and(|v| v.trim().trim_matches(['"', '\'']).eq_ignore_ascii_case(&wanted))
                    })
                    .map(|(i, _)| i + 1)
                    .last();
                return Err(at(line, CatalogErrorKind::DuplicateSlug { slug: provider.slug }));
            }
            providers.insert(provider.slug.clone(), provider);
        }
        Ok(Self { providers, skipped })
    }

    /// Entries of the loaded files that were skipped (non-OAuth providers of Nango files).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
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

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [&str; 74] = [
        "tiktok",
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
        "bitbucket",
        "confluence",
        "monday",
        "microsoft_teams",
        "webex",
        "googlesheets",
        "googledocs",
        "youtube",
        "onedrive",
        "sharepoint",
        "pipedrive",
        "zoho",
        "attio",
        "intercom",
        "front",
        "helpscout",
        "mailchimp",
        "klaviyo",
        "stripe",
        "paypal",
        "square",
        "quickbooks",
        "xero",
        "freshbooks",
        "shopify",
        "gusto",
        "miro",
        "canva",
        "typeform",
        "docusign",
        "pandadoc",
        "facebook",
        "instagram",
        "reddit",
        "pinterest",
        "twitch",
        "vimeo",
        "wrike",
        "todoist",
        "ticktick",
        "webflow",
        "wordpress",
        "sentry",
        "pagerduty",
        "netlify",
        "heroku",
        "digitalocean",
        "close",
    ];

    /// Providers with no OAuth scopes at all (access is chosen in the app or by the user).
    const SCOPELESS: [&str; 42] = [
        "attio",
        "basecamp",
        "bitly",
        "clickup",
        "clio",
        "drip",
        "dropbox_sign",
        "eventbrite",
        "freeagent",
        "front",
        "getresponse",
        "gotomeeting",
        "gotowebinar",
        "gusto",
        "harvest",
        "helpscout",
        "imgur",
        "intercom",
        "livechat",
        "mailchimp",
        "meetup",
        "monzo",
        "naver",
        "netlify",
        "notion",
        "pcloud",
        "pipedrive",
        "podio",
        "procore",
        "pushbullet",
        "raindrop",
        "ringcentral",
        "salesloft",
        "soundcloud",
        "splitwise",
        "supabase",
        "surveymonkey",
        "teamleader",
        "trakt",
        "yandex",
        "ynab",
        "zenefits",
    ];

    pub(super) fn slug(s: &str) -> ToolkitSlug {
        ToolkitSlug::parse(s).unwrap()
    }

    pub(super) fn catalog() -> Catalog {
        Catalog::embedded().expect("embedded catalog must load")
    }

    /// A valid single entry; tests splice in one defect each.
    pub(super) const VALID: &str = "
toolkits:
  - slug: acme
    name: Acme
    authorization_url: https://acme.example/oauth/authorize
    token_url: https://acme.example/oauth/token
    source: https://acme.example/docs/oauth
    default_scopes: [read]
    scope_separator: \" \"
    pkce: true
    client_auth: client_secret_post
";

    pub(super) fn err(yaml: &str) -> String {
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
        for provider in catalog().iter() {
            let s = provider.slug.as_str();
            assert!(!provider.name.is_empty() && !provider.description.is_empty(), "{s}: name/description");
            if let Some(o) = &provider.oauth1 {
                assert!(provider.fields.is_empty() && provider.oauth().is_none(), "{s}: OAUTH1 takes no fields");
                assert!(o.request_token_url.starts_with("https://"), "{s}: request_token_url");
                continue;
            }
            let Some(p) = provider.oauth() else {
                assert!(provider.fields.iter().any(|f| f.secret), "{s}: a non-OAuth entry without a secret field");
                continue;
            };
            assert!(p.authorization_url.starts_with("https://"), "{s}: authorization_url");
            assert!(p.token_url.starts_with("https://"), "{s}: token_url");
            assert!(!p.scope_separator.is_empty(), "{s}: scope_separator");
            if SCOPELESS.contains(&s) {
                assert!(p.default_scopes.is_empty(), "{s} is listed as scopeless but has scopes");
            } else {
                assert!(!p.default_scopes.is_empty(), "{s}: default_scopes is empty");
            }
            let placeholders = p.authorization_url.contains('{') || p.token_url.contains('{');
            assert_eq!(placeholders, !provider.template_fields().is_empty(), "{s}: placeholders vs fields");
            for f in &provider.fields {
                assert_eq!(f.pattern.as_deref(), Some(HOST_LABEL_PATTERN), "{s}: {} is a host label", f.name);
            }
        }
    }

    #[test]
    fn google_entries_ask_for_offline_access() {
        let google: Vec<Provider> = catalog()
            .iter()
            .filter(|p| p.oauth().is_some_and(|o| o.authorization_url.starts_with("https://accounts.google.com/")))
            .cloned()
            .collect();
        let slugs: Vec<&str> = google.iter().map(|p| p.slug.as_str()).collect();
        for expected in ["gmail", "googlecalendar", "googledrive"] {
            assert!(slugs.contains(&expected), "{expected} is not a Google entry");
        }
        for provider in &google {
            let p = provider.oauth().unwrap();
            assert_eq!(
                p.extra_authorization_params.get("access_type").map(String::as_str),
                Some("offline"),
                "{}",
                provider.slug
            );
            assert_eq!(p.token_url, "https://oauth2.googleapis.com/token", "{}", provider.slug);
        }
    }

    #[test]
    fn provider_quirks_are_recorded() {
        let catalog = catalog();
        let get = |s: &str| catalog.get(&slug(s)).unwrap().oauth().unwrap().clone();
        assert_eq!(get("slack").scope_separator, ",");
        assert_eq!(get("notion").client_auth, ClientAuth::ClientSecretBasic);
        assert_eq!(get("notion").extra_authorization_params.get("owner").map(String::as_str), Some("user"));
        assert_eq!(
            get("jira").extra_authorization_params.get("audience").map(String::as_str),
            Some("api.atlassian.com")
        );
        assert_eq!(catalog.get(&slug("zendesk")).unwrap().template_fields(), ["subdomain"]);
        assert!(get("zendesk").authorization_url.contains("{subdomain}"));
        assert!(!get("linkedin").pkce);
        // TikTok names its client `client_key`; everyone else keeps RFC 6749's `client_id`.
        assert_eq!(get("tiktok").client_id_param(), "client_key");
        assert_eq!(get("tiktok").scope_separator, ",");
        assert_eq!(get("github").client_id_param(), "client_id");
    }

    #[test]
    fn a_valid_document_parses() {
        let catalog = Catalog::from_yaml(VALID).unwrap();
        let acme = catalog.get(&slug("acme")).unwrap();
        assert_eq!(acme.oauth().unwrap().client_auth, ClientAuth::ClientSecretPost);
        assert_eq!(acme.auth_scheme, AuthScheme::OAuth2);
        assert!(acme.description.is_empty() && acme.logo.is_none() && acme.fields.is_empty());
        assert!(Catalog::from_yaml("toolkits: []\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_duplicate_slugs_including_by_case() {
        let second = VALID.replace("toolkits:\n", "").replace("slug: acme", "slug: ACME");
        let error = Catalog::from_yaml(&format!("{VALID}{second}")).unwrap_err();
        assert_eq!(error.line, Some(13), "the second entry (after a blank line 12): {error}");
        let message = error.to_string();
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
    fn placeholders_must_be_declared() {
        let tenant = VALID.replace("https://acme.example/oauth/token", "https://{subdomain}.acme.example/oauth/token");
        let message = err(&tenant);
        assert!(
            message.contains("`acme`") && message.contains("`token_url`") && message.contains("fields"),
            "{message}"
        );

        let field = "    fields:\n      - name: subdomain\n        display_name: Subdomain\n";
        let message = err(&format!("{tenant}{field}"));
        assert!(message.contains("`fields`") && message.contains("needs a pattern"), "{message}");
        let declared = format!("{tenant}{field}        pattern: \"[a-z0-9-]+\"\n");
        let catalog = Catalog::from_yaml(&declared).unwrap();
        assert_eq!(catalog.get(&slug("acme")).unwrap().template_fields(), ["subdomain"]);

        let message =
            err(&VALID.replace("https://acme.example/oauth/token", "https://{subdomain.acme.example/oauth/token"));
        assert!(message.contains("`token_url`") && message.contains("unclosed"), "{message}");
    }

    #[test]
    fn rejects_invalid_slugs_and_bad_documents() {
        let message = err(&VALID.replace("slug: acme", "slug: \"ac me\""));
        assert!(message.contains("`ac me`") && message.contains("`slug`"), "{message}");
        assert!(matches!(Catalog::from_yaml("toolkits: [").unwrap_err().kind.as_ref(), CatalogErrorKind::Yaml(_)));
        assert!(matches!(
            Catalog::from_yaml("toolkits: []\nextra: 1\n").unwrap_err().kind.as_ref(),
            CatalogErrorKind::Yaml(_)
        ));
        // A mapping without `toolkits` is read as a Nango file, whose entries must be mappings.
        let message = err("providers: []\n");
        assert!(message.contains("`providers`") && message.contains("mapping"), "{message}");
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
        assert_eq!(acme.oauth().unwrap().revocation_url.as_deref(), Some("https://acme.example/oauth/revoke"));
        assert_eq!(category_name("crm"), Some("CRM"));
        assert_eq!(category_name("nope"), None);
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        // Line 1 is empty (VALID starts with a newline): `token_url` is on line 6, `pkce` on 10.
        let bad = VALID.replace("https://acme.example/oauth/token", "http://acme.example/oauth/token");
        let error = Catalog::from_yaml_file("extra/acme.yaml", &bad).unwrap_err();
        assert_eq!(error.file, "extra/acme.yaml");
        assert_eq!(error.line, Some(6));
        let message = error.to_string();
        assert!(message.starts_with("extra/acme.yaml, line 6: toolkit `acme`: field `token_url`"), "{message}");

        // Serde errors (unknown or wrongly typed fields) are located too.
        let error = Catalog::from_yaml_file("a.yaml", &VALID.replace("pkce: true", "pkce: maybe")).unwrap_err();
        assert_eq!(error.line, Some(10), "{error}");
        assert!(error.to_string().contains("field `pkce`"), "{error}");
        let error = Catalog::from_yaml_file("a.yaml", &format!("{VALID}    scopes: [x]\n")).unwrap_err();
        assert_eq!(error.line, Some(12), "{error}");
        assert!(error.to_string().contains("scopes"), "{error}");

        // Syntax errors carry the parser's line.
        let error = Catalog::from_yaml_file("a.yaml", "toolkits:\n  - slug: [\n").unwrap_err();
        assert!(matches!(error.kind.as_ref(), CatalogErrorKind::Yaml(_)));
        assert!(error.line.is_some(), "{error}");
    }

    #[test]
    fn every_entry_names_an_https_source() {
        let message = err(&VALID.replace("    source: https://acme.example/docs/oauth\n", ""));
        assert!(message.contains("`acme`") && message.contains("source"), "{message}");
        let message = err(&VALID.replace("https://acme.example/docs/oauth", "http://acme.example/docs"));
        assert!(message.contains("`source`") && message.contains("https"), "{message}");
        let anchored = Catalog::from_yaml(&VALID.replace("docs/oauth", "docs#oauth")).unwrap();
        assert_eq!(anchored.get(&slug("acme")).unwrap().source, "https://acme.example/docs#oauth");
        assert!(catalog().iter().all(|p| p.source.starts_with("https://")));
    }

    const NANGO: &str = "
acme-crm:
  display_name: Acme CRM
  categories: [crm, marketing]
  auth_mode: OAUTH2
  authorization_url: https://${connectionConfig.subdomain}.acme.example/oauth/authorize
  token_url: https://${connectionConfig.subdomain}.acme.example/oauth/token
  authorization_params:
    access_type: offline
    prompt: consent
  token_params:
    grant_type: authorization_code
  scope_separator: ','
  default_scopes: [contacts.read, offline]
  token_request_auth_method: basic
  disable_pkce: true
  docs: https://docs.acme.example/oauth
  proxy:
    base_url: https://api.acme.example
acme-keys:
  display_name: Acme Keys
  auth_mode: API_KEY
  docs: https://docs.acme.example/keys
";

    #[test]
    fn reads_nango_provider_files() {
        let catalog = Catalog::from_yaml_file("nango.yaml", NANGO).unwrap();
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.skipped(), ["nango.yaml: acme-keys (auth_mode API_KEY)"]);
        let entry = catalog.get(&slug("acme-crm")).unwrap();
        assert_eq!(entry.name, "Acme CRM");
        assert_eq!(entry.template_fields(), ["subdomain"]);
        assert_eq!(entry.fields[0].pattern.as_deref(), Some(HOST_LABEL_PATTERN));
        assert_eq!(
            (entry.source.as_str(), entry.categories.as_slice()),
            ("https://docs.acme.example/oauth", &["crm".to_owned()][..])
        );
        let p = entry.oauth().unwrap();
        assert_eq!(p.authorization_url, "https://{subdomain}.acme.example/oauth/authorize");
        assert_eq!(p.token_url, "https://{subdomain}.acme.example/oauth/token");
        assert_eq!(p.scope_separator, ",");
        assert_eq!(p.default_scopes, ["contacts.read", "offline"]);
        assert_eq!(p.client_auth, ClientAuth::ClientSecretBasic);
        assert!(!p.pkce);
        assert!(p.pkce_off_reason.as_deref().is_some_and(|r| r.contains("disable_pkce")));
        assert_eq!(p.extra_authorization_params.get("access_type").map(String::as_str), Some("offline"));
        assert_eq!(p.extra_authorization_params.get("prompt").map(String::as_str), Some("consent"));
        assert_eq!(p.token_response_nested, None);
        let slack_user = NANGO
            .replace("  disable_pkce: true\n", "  alternate_access_token_response_path: authed_user.access_token\n");
        let p = Catalog::from_yaml_file("n.yaml", &slack_user)
            .unwrap()
            .get(&slug("acme-crm"))
            .unwrap()
            .oauth
            .clone()
            .unwrap();
        assert_eq!(p.token_response_nested.as_deref(), Some("authed_user"));
        assert!(p.pkce);

        // Defaults: space-separated scopes, PKCE on, credentials in the body.
        let plain = "x:\n  auth_mode: OAUTH2\n  authorization_url: https://x.example/a\n  token_url: https://x.example/t\n  docs: https://x.example/docs\n  connection_config:\n    instanceUrl: {type: string}\n";
        let entry = Catalog::from_yaml_file("n.yaml", plain).unwrap().get(&slug("x")).unwrap().clone();
        let p = entry.oauth().unwrap();
        assert_eq!((p.scope_separator.as_str(), p.pkce, p.client_auth), (" ", true, ClientAuth::ClientSecretPost));
        assert!(p.default_scopes.is_empty() && entry.fields.is_empty());
        let camel = plain.replace("https://x.example/t", "https://x.example/${connectionConfig.instanceUrl}/t");
        let entry = Catalog::from_yaml_file("n.yaml", &camel).unwrap().get(&slug("x")).unwrap().clone();
        assert_eq!(entry.oauth().unwrap().token_url, "https://x.example/{instance_url}/t");
        assert_eq!(entry.template_fields(), ["instance_url"]);
    }

    /// Table: a Nango setting authlink cannot honour refuses the entry, naming file, line, field.
    #[test]
    fn refuses_nango_settings_it_cannot_honour() {
        let cases: [(&str, &str, &str, usize); 9] = [
            ("  disable_pkce: true\n", "  expires_in_unit: milliseconds\n", "expires_in_unit", 16),
            (
                "  disable_pkce: true\n",
                "  alternate_access_token_response_path: data.token.value\n",
                "alternate_access_token_response_path",
                16,
            ),
            ("  disable_pkce: true\n", "  body_format: json\n", "body_format", 16),
            ("  disable_pkce: true\n", "  refresh_url: https://acme.example/refresh\n", "refresh_url", 16),
            ("    grant_type: authorization_code\n", "    grant_type: client_credentials\n", "token_params", 11),
            (
                "  token_request_auth_method: basic\n",
                "  token_request_auth_method: private_key_jwt\n",
                "token_request_auth_method",
                15,
            ),
            (
                "https://${connectionConfig.subdomain}.acme.example/oauth/token",
                "https://${secret}.acme.example/t",
                "token_url",
                7,
            ),
            ("https://${connectionConfig.subdomain}.acme.example/oauth/token", "http://acme.example/t", "token_url", 7),
            ("  docs: https://docs.acme.example/oauth\n", "", "source", 2),
        ];
        for (from, to, field, line) in cases {
            let text = NANGO.replacen(from, to, 1);
            assert_ne!(text, NANGO, "{from:?} not found");
            let error = Catalog::from_yaml_file("nango.yaml", &text).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("`acme-crm`") && message.contains(field), "{field}: {message}");
            assert_eq!((error.file.as_str(), error.line), ("nango.yaml", Some(line)), "{field}: {message}");
        }
    }

    #[test]
    fn a_directory_adds_and_overrides_entries() {
        let dir = std::env::temp_dir().join(format!("authlink_catalog_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let github = VALID.replace("slug: acme", "slug: github").replace("name: Acme", "name: GitHub Enterprise");
        std::fs::write(dir.join("a.yaml"), format!("{VALID}{}", github.replace("toolkits:\n", ""))).unwrap();
        std::fs::write(dir.join("b.yml"), NANGO).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a catalog file").unwrap();
        let embedded = catalog().len();
        let catalog = Catalog::load(Some(&dir)).unwrap();
        assert_eq!(catalog.len(), embedded + 2, "acme and acme-crm added, github replaced");
        assert_eq!(catalog.get(&slug("github")).unwrap().name, "GitHub Enterprise");
        assert!(catalog.contains(&slug("acme")) && catalog.contains(&slug("acme-crm")));
        assert_eq!(catalog.skipped().len(), 1);

        // The same slug in two files of the directory is ambiguous.
        std::fs::write(dir.join("c.yaml"), VALID).unwrap();
        let error = Catalog::load(Some(&dir)).unwrap_err();
        assert!(error.file.ends_with("c.yaml") && error.line == Some(3), "{error}");
        assert!(error.to_string().contains("also defined in"), "{error}");
        std::fs::remove_file(dir.join("c.yaml")).unwrap();

        let error = Catalog::load(Some(&dir.join("missing"))).unwrap_err();
        assert!(matches!(error.kind.as_ref(), CatalogErrorKind::Io(_)), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A valid `API_KEY` entry; the table below splices in one defect each.
    pub(super) const KEYED: &str = "
toolkits:
  - slug: keyed
    name: Keyed
    source: https://keyed.example/docs
    auth_scheme: API_KEY
    credential: {in: header, name: X-Api-Key}
    base_url: https://{region}.keyed.example/v1
    fields:
      - name: region
        display_name: Region
        pattern: \"[a-z]{2}[0-9]\"
      - name: api_key
        display_name: API key
        secret: true
";

    #[test]
    fn non_oauth_entries_parse() {
        let parsed = Catalog::from_yaml(KEYED).unwrap();
        let keyed = parsed.get(&slug("keyed")).unwrap();
        assert_eq!(keyed.auth_scheme, AuthScheme::ApiKey);
        assert!(keyed.oauth().is_none());
        assert_eq!(keyed.template_fields(), ["region"]);
        assert_eq!(keyed.credential_field().unwrap().name, "api_key");
        let [c] = keyed.credential.as_slice() else { panic!("one placement: {:?}", keyed.credential) };
        assert_eq!((c.location, c.name.as_str(), c.prefix.as_deref()), (CredentialIn::Header, "X-Api-Key", None));
        let embedded = catalog();
        for (s, scheme) in
            [("openai", AuthScheme::ApiKey), ("huggingface", AuthScheme::BearerToken), ("twilio", AuthScheme::Basic)]
        {
            let p = embedded.get(&slug(s)).unwrap();
            assert_eq!(p.auth_scheme, scheme, "{s}");
            assert!(p.oauth().is_none() && p.fields.iter().any(|f| f.secret), "{s}");
        }
        assert_eq!(embedded.get(&slug("openai")).unwrap().credential_field().unwrap().name, "api_key");
        // BASIC with the API key as the username: the username is the secret.
        let freshdesk = embedded.get(&slug("freshdesk")).unwrap();
        assert_eq!(freshdesk.auth_scheme, AuthScheme::Basic);
        assert!(freshdesk.field("username").unwrap().secret);
        assert_eq!(AuthScheme::parse("BEARER_TOKEN"), Some(AuthScheme::BearerToken));
        assert_eq!(AuthScheme::parse("oauth2"), None);
    }

    /// Table: each per-scheme rule of catalog-format.md refuses the entry, naming the field.
    #[test]
    fn refuses_entries_breaking_the_scheme_rules() {
        let cases: [(&str, &str, &str, &str); 14] = [
            (
                "    auth_scheme: API_KEY\n",
                "    auth_scheme: API_KEY\n    token_url: https://keyed.example/t\n",
                "token_url",
                "OAuth 2.0 key",
            ),
            ("    auth_scheme: API_KEY\n", "    auth_scheme: API_KEY\n    pkce: true\n", "pkce", "OAuth 2.0 key"),
            ("    auth_scheme: API_KEY\n", "    auth_scheme: SAML\n", "auth_scheme", "unknown variant"),
            ("        secret: true\n", "", "fields", "secret field"),
            ("\"[a-z]{2}[0-9]\"", "\"[a-z.]+\"", "fields", "host label"),
            ("\"[a-z]{2}[0-9]\"", "\"\\\\S+\"", "fields", "host label"),
            ("\"[a-z]{2}[0-9]\"", "\"[a-z]+|x/y\"", "fields", "host label"),
            ("\"[a-z]{2}[0-9]\"", "\"(\"", "fields", "not a valid regex"),
            ("        pattern: \"[a-z]{2}[0-9]\"\n", "", "fields", "needs a pattern"),
            ("      - name: api_key\n", "      - name: region\n", "fields", "twice"),
            ("      - name: api_key\n", "      - name: Api-Key\n", "fields", "[a-z]"),
            ("name: X-Api-Key}", "name: X-Api-Key, field: region}", "credential", "placed by none"),
            ("{region}.keyed", "{tenant}.keyed", "base_url", "not one of the entry's fields"),
            ("auth_scheme: API_KEY", "auth_scheme: BASIC", "fields", "username"),
        ];
        for (from, to, field, rule) in cases {
            let text = KEYED.replacen(from, to, 1);
            assert_ne!(text, KEYED, "{from:?} not found");
            let message = err(&text);
            assert!(
                message.contains("`keyed`") && message.contains(field) && message.contains(rule),
                "{to}: {message}"
            );
        }
        // OAUTH2 entries take no credential (in either form), and all their fields need
        // host-label patterns.
        let message = err(&format!("{VALID}    credential: [{{in: header, name: X, field: org}}]\n"));
        assert!(message.contains("`credential`") && message.contains("OAUTH2"), "{message}");
        let message = err(&format!("{VALID}    credential: {{in: header, name: X}}\n"));
        assert!(message.contains("`credential`") && message.contains("OAUTH2"), "{message}");
        let message = err(&format!("{VALID}    fields:\n      - name: org\n        display_name: Org\n"));
        assert!(message.contains("`fields`") && message.contains("OAUTH2"), "{message}");
        let message = err(&VALID.replace("    pkce: true\n", ""));
        assert!(message.contains("`pkce`") && message.contains("required on OAUTH2"), "{message}");
    }
}
