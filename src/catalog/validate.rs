//! Entry checks of the catalog: what serde cannot check (URL shapes, placeholders, scopes,
//! parameters) and where in a file an entry or field is, for errors that name the line.
//!
//! The rules of one part of an entry live in a submodule each ([`fields`], [`placements`],
//! [`oauth`]), so this file keeps what every entry goes through: reading it, locating it, and the
//! checks common to all schemes (name, URLs, categories).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use super::{
    AuthScheme, CatalogErrorKind, ClientAuth, FieldSpec, OAuth1Facts, OAuthFacts, Placements, Provider, Quirk,
    category_name,
};
use crate::domain::ToolkitSlug;

mod fields;
mod oauth;
mod placements;

/// One entry as written: every key of every scheme, checked per scheme by [`RawEntry::into_provider`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    slug: ToolkitSlug,
    name: String,
    #[serde(default)]
    description: String,
    source: String,
    #[serde(default)]
    logo: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    auth_scheme: AuthScheme,
    #[serde(default)]
    credential: Option<Placements>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    fields: Vec<FieldSpec>,
    authorization_url: Option<String>,
    token_url: Option<String>,
    default_scopes: Option<Vec<String>>,
    scope_separator: Option<String>,
    pkce: Option<bool>,
    pkce_off_reason: Option<String>,
    client_auth: Option<ClientAuth>,
    extra_authorization_params: Option<BTreeMap<String, String>>,
    revocation_url: Option<String>,
    quirks: Option<Vec<Quirk>>,
    token_response_nested: Option<String>,
    client_id_param: Option<String>,
    oauth1: Option<OAuth1Facts>,
}

impl RawEntry {
    /// Splits the OAuth keys off: required on `OAUTH2`, refused on every other scheme.
    fn into_provider(self) -> Result<Provider, (&'static str, String)> {
        let scheme = self.auth_scheme;
        let oauth1 = match (scheme, self.oauth1) {
            (AuthScheme::OAuth1, Some(facts)) => Some(facts),
            (AuthScheme::OAuth1, None) => return Err(("oauth1", "is required on OAUTH1 entries".to_owned())),
            (_, Some(_)) => return Err(("oauth1", format!("is only allowed on OAUTH1 entries, not {scheme}"))),
            (_, None) => None,
        };
        let oauth = if scheme.is_oauth() {
            let need = |key: &'static str| (key, "is required on OAUTH2 entries".to_owned());
            Some(OAuthFacts {
                authorization_url: self.authorization_url.ok_or_else(|| need("authorization_url"))?,
                token_url: self.token_url.ok_or_else(|| need("token_url"))?,
                default_scopes: self.default_scopes.ok_or_else(|| need("default_scopes"))?,
                scope_separator: self.scope_separator.ok_or_else(|| need("scope_separator"))?,
                pkce: self.pkce.ok_or_else(|| need("pkce"))?,
                pkce_off_reason: self.pkce_off_reason,
                client_auth: self.client_auth.ok_or_else(|| need("client_auth"))?,
                extra_authorization_params: self.extra_authorization_params.unwrap_or_default(),
                revocation_url: self.revocation_url,
                quirks: self.quirks.unwrap_or_default(),
                token_response_nested: self.token_response_nested,
                client_id_param: self.client_id_param,
            })
        } else {
            let present = [
                ("authorization_url", self.authorization_url.is_some()),
                ("token_url", self.token_url.is_some()),
                ("default_scopes", self.default_scopes.is_some()),
                ("scope_separator", self.scope_separator.is_some()),
                ("pkce", self.pkce.is_some()),
                ("pkce_off_reason", self.pkce_off_reason.is_some()),
                ("client_auth", self.client_auth.is_some()),
                ("extra_authorization_params", self.extra_authorization_params.is_some()),
                ("revocation_url", self.revocation_url.is_some()),
                ("quirks", self.quirks.is_some()),
                ("token_response_nested", self.token_response_nested.is_some()),
                ("client_id_param", self.client_id_param.is_some()),
            ];
            if let Some((key, _)) = present.into_iter().find(|(_, p)| *p) {
                return Err((key, format!("is an OAuth 2.0 key: not allowed on {scheme} entries")));
            }
            None
        };
        let credential = match self.credential {
            Some(Placements(list)) if list.is_empty() => {
                return Err(("credential", "must name at least one placement (or be left out)".into()));
            }
            Some(Placements(list)) => list,
            None => Vec::new(),
        };
        Ok(Provider {
            slug: self.slug,
            name: self.name,
            description: self.description,
            source: self.source,
            logo: self.logo,
            categories: self.categories,
            auth_scheme: scheme,
            oauth,
            oauth1,
            credential,
            base_url: self.base_url,
            fields: self.fields,
        })
    }
}

/// The 1-based line of `field` inside the entry whose slug is `slug` (authlink format), or of the
/// entry itself; `None` when it cannot be found (e.g. a slug written with unusual quoting).
pub(super) fn find_line(text: &str, slug: Option<&str>, field: Option<&str>) -> Option<usize> {
    let slug = slug?;
    let lines: Vec<&str> = text.lines().collect();
    let is_slug_line = |line: &str, want: Option<&str>| {
        let t = line.trim_start().trim_start_matches('-').trim_start();
        t.strip_prefix("slug:").is_some_and(|v| {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            want.is_none_or(|w| v == w)
        })
    };
    let start = lines.iter().position(|l| is_slug_line(l, Some(slug)))?;
    let top = field.and_then(|f| f.split(['.', '[']).next()).filter(|f| !f.is_empty());
    // A missing `pkce_off_reason` is about the `pkce: false` line.
    let candidates: &[&str] = match top {
        Some("pkce_off_reason") => &["pkce_off_reason", "pkce"],
        Some(field) => &[field],
        None => &[],
    };
    for field in candidates {
        for (offset, line) in lines[start..].iter().enumerate() {
            if offset > 0 && is_slug_line(line, None) && line.trim_start().starts_with('-') {
                break;
            }
            let t = line.trim_start().trim_start_matches('-').trim_start();
            if t.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')) {
                return Some(start + offset + 1);
            }
        }
    }
    Some(start + 1)
}

/// The 1-based line of a Nango provider (a top-level key) or of one of its fields.
pub(super) fn find_nango_line(text: &str, name: &str, field: Option<&str>) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        !l.starts_with([' ', '\t', '#']) && l.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with(':'))
    })?;
    if let Some(field) = field.and_then(|f| f.split(['.', '[']).next()) {
        for (offset, line) in lines[start + 1..].iter().enumerate() {
            if !line.is_empty() && !line.starts_with([' ', '\t', '#']) {
                break;
            }
            if line.trim_start().strip_prefix(field).is_some_and(|r| r.starts_with(':')) {
                return Some(start + offset + 2);
            }
        }
    }
    Some(start + 1)
}

/// Deserializes one entry, reporting failures with the entry's slug and the failing field.
pub(super) fn parse_entry(
    index: usize,
    value: serde_norway::Value,
) -> Result<Provider, (Option<String>, CatalogErrorKind)> {
    let entry = match value.get("slug").and_then(serde_norway::Value::as_str) {
        Some(slug) => format!("`{slug}` (toolkits[{index}])"),
        None => format!("at toolkits[{index}]"),
    };
    let raw: RawEntry = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // An unknown or missing field is named by the message, not the path.
        let named = message.split('`').nth(1).map(str::to_owned);
        let (field, location) = if path.is_empty() || path == "." {
            (named, String::new())
        } else {
            (Some(path.clone()), format!("field `{path}`: "))
        };
        (field, CatalogErrorKind::Entry { entry: entry.clone(), location, message })
    })?;
    raw.into_provider().map_err(|(key, message)| {
        (Some(key.to_owned()), CatalogErrorKind::Entry { entry, location: format!("field `{key}`: "), message })
    })
}

/// Checks what serde cannot: URL shape, placeholders, scopes and parameters.
pub(super) fn validate(provider: &Provider) -> Result<(), CatalogErrorKind> {
    let slug = &provider.slug;
    let invalid =
        |field: &'static str, reason: String| CatalogErrorKind::InvalidField { slug: slug.clone(), field, reason };

    if provider.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }

    let declared = fields::check_fields(provider).map_err(|reason| invalid("fields", reason))?;
    placements::check_placements(provider).map_err(|reason| invalid("credential", reason))?;
    let url_err = |field: &'static str, url: &String| {
        let slug = slug.clone();
        let url = url.clone();
        move |reason| CatalogErrorKind::InvalidUrl { slug, field, url, reason }
    };
    if let Some(url) = &provider.base_url {
        check_url(url, &declared).map_err(url_err("base_url", url))?;
    }
    for category in &provider.categories {
        if category_name(category).is_none() {
            return Err(invalid("categories", format!("{category:?} is not one of the categories in catalog.rs")));
        }
    }
    // A docs page may be cited by its anchor: the fragment is dropped before the URL check.
    let source = provider.source.split('#').next().unwrap_or_default();
    check_url(source, &BTreeSet::new()).map_err(|reason| CatalogErrorKind::InvalidUrl {
        slug: slug.clone(),
        field: "source",
        url: provider.source.clone(),
        reason,
    })?;
    if let Some(logo) = &provider.logo {
        check_url(logo, &BTreeSet::new()).map_err(|reason| CatalogErrorKind::InvalidUrl {
            slug: slug.clone(),
            field: "logo",
            url: logo.clone(),
            reason,
        })?;
    }
    oauth::check(provider, &declared)
}

/// An absolute https URL with a host and no fragment or credentials, once every `{field}`
/// placeholder (each of which must be declared) is filled in.
pub(super) fn check_url(raw: &str, declared: &BTreeSet<&str>) -> Result<(), String> {
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
            return Err(format!("placeholder {{{name}}} is not one of the entry's fields"));
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

pub(super) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
