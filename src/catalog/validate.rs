//! Entry checks of the catalog: what serde cannot check (URL shapes, placeholders, scopes,
//! parameters) and where in a file an entry or field is, for errors that name the line.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use super::{
    AuthScheme, CatalogErrorKind, ClientAuth, CredentialIn, FieldSpec, OAuth1Facts, OAuthFacts, Placements, Provider,
    Quirk, RESERVED_AUTHORIZATION_PARAMS, category_name,
};
use crate::domain::ToolkitSlug;

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

    let declared = check_fields(provider).map_err(|reason| invalid("fields", reason))?;
    check_placements(provider).map_err(|reason| invalid("credential", reason))?;
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

    if let Some(o) = &provider.oauth1 {
        if !provider.credential.is_empty() {
            return Err(invalid("credential", "is not allowed on OAUTH1 entries (the credential is the token)".into()));
        }
        for (field, url) in [
            ("oauth1.request_token_url", &o.request_token_url),
            ("oauth1.authorize_url", &o.authorize_url),
            ("oauth1.access_token_url", &o.access_token_url),
        ] {
            check_url(url, &declared).map_err(url_err(field, url))?;
        }
    }
    let Some(o) = &provider.oauth else {
        return Ok(());
    };
    if !provider.credential.is_empty() {
        return Err(invalid(
            "credential",
            "is not allowed on OAUTH2 entries (the credential is the access token)".into(),
        ));
    }
    for (field, url) in [("authorization_url", &o.authorization_url), ("token_url", &o.token_url)] {
        check_url(url, &declared).map_err(url_err(field, url))?;
    }
    if let Some(url) = &o.revocation_url {
        check_url(url, &declared).map_err(url_err("revocation_url", url))?;
    }
    if let Some(nested) = &o.token_response_nested {
        if !is_identifier(nested) {
            return Err(invalid("token_response_nested", format!("{nested:?} must match [a-z][a-z0-9_]*")));
        }
    }
    if let Some(name) = &o.client_id_param {
        check_client_id_param(name, o).map_err(|reason| invalid("client_id_param", reason))?;
    }
    let mut quirks = BTreeSet::new();
    for quirk in &o.quirks {
        if !quirks.insert(format!("{quirk:?}")) {
            return Err(invalid("quirks", format!("{quirk:?} is listed twice")));
        }
    }

    match (o.pkce, o.pkce_off_reason.as_deref().map(str::trim)) {
        (false, None | Some("")) => {
            return Err(invalid(
                "pkce_off_reason",
                "is required when pkce is false: say why the provider cannot take PKCE".into(),
            ));
        }
        (true, Some(_)) => return Err(invalid("pkce_off_reason", "is only allowed when pkce is false".into())),
        _ => {}
    }

    let separator = &o.scope_separator;
    if separator.is_empty() {
        return Err(invalid("scope_separator", "must not be empty".into()));
    }
    let mut seen = BTreeSet::new();
    for scope in &o.default_scopes {
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

    for (key, value) in &o.extra_authorization_params {
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

/// Parameter names authlink sends itself on the authorization URL, token requests and
/// revocations: a renamed client id may not take one of them.
const OAUTH_FORM_PARAMS: &[&str] =
    &["grant_type", "code", "code_verifier", "refresh_token", "client_secret", "token", "token_type_hint"];

/// `client_id_param`: a plain parameter name other than `client_id` (the default, so writing it
/// is a mistake) that collides with no parameter authlink sends nor an extra authorization one.
fn check_client_id_param(name: &str, o: &OAuthFacts) -> Result<(), String> {
    if !is_identifier(name) {
        return Err(format!("{name:?} must match [a-z][a-z0-9_]*"));
    }
    if name == "client_id" {
        return Err("`client_id` is the default: leave client_id_param out".into());
    }
    if RESERVED_AUTHORIZATION_PARAMS.contains(&name) || OAUTH_FORM_PARAMS.contains(&name) {
        return Err(format!("`{name}` is a parameter authlink sends for itself"));
    }
    if o.extra_authorization_params.contains_key(name) {
        return Err(format!("`{name}` is also in extra_authorization_params, which would send it twice"));
    }
    Ok(())
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

/// Characters a value substituted into a URL (or any OAUTH2 field) must never contain.
const HOST_BREAKERS: &[char] = &['.', '/', '@', '#', '?', ':', '%', '\\', ' '];

/// The per-scheme rules of `fields` and `credential`; returns the declared field names.
fn check_fields(provider: &Provider) -> Result<BTreeSet<&str>, String> {
    let mut declared = BTreeSet::new();
    for f in &provider.fields {
        let name = f.name.as_str();
        if !is_identifier(name) {
            return Err(format!("{name:?} must match [a-z][a-z0-9_]*"));
        }
        if !declared.insert(name) {
            return Err(format!("{name:?} is listed twice"));
        }
        if f.display_name.trim().is_empty() {
            return Err(format!("{name}: display_name must not be empty"));
        }
        if let Some(pattern) = &f.pattern {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("{name}: pattern {pattern:?} is not a valid regex ({e})"))?;
        }
    }
    let templated = provider.template_fields();
    for f in &provider.fields {
        if provider.auth_scheme.is_oauth() || templated.contains(&f.name.as_str()) {
            let why = if provider.auth_scheme.is_oauth() { "on an OAUTH2 entry" } else { "used in a URL template" };
            let pattern = f.pattern.as_deref().ok_or_else(|| format!("{}: a field {why} needs a pattern", f.name))?;
            if pattern_may_match(pattern, HOST_BREAKERS)? {
                return Err(format!(
                    "{}: the pattern of a field {why} must be a host label: it may not match any of . / @ # ? : % \\ or space",
                    f.name
                ));
            }
        }
    }
    if provider.auth_scheme.is_oauth() {
        return Ok(declared);
    }
    if provider.auth_scheme == AuthScheme::OAuth1 {
        // The three endpoints are fixed: no per-tenant field is ever asked for on the way.
        if let Some(f) = provider.fields.first() {
            return Err(format!("{}: OAUTH1 entries take no fields", f.name));
        }
        return Ok(declared);
    }
    if !provider.fields.iter().any(|f| f.secret) {
        return Err(format!("{} entries need at least one secret field", provider.auth_scheme));
    }
    if provider.auth_scheme == AuthScheme::Basic {
        // Usually the password is the secret; providers that take an API key as the username
        // (Freshdesk, Greenhouse, Toggl, ...) mark the username secret instead, and the
        // secret-field check above makes sure one of the two is.
        if provider.field("username").is_none() || provider.field("password").is_none() {
            return Err("BASIC entries need a `username` field and a `password` field".into());
        }
    }
    Ok(declared)
}

/// The rules of `credential`: every placement a header or parameter name with a clean prefix,
/// naming a declared field (each names its `field` when there are several, since "the first
/// secret field" would then be the same field twice), no header or parameter placed twice, and
/// every secret field placed, so no declared secret is silently left off the provider's calls
/// (the bug this list form fixes: Trello's `key`, Datadog's application key).
fn check_placements(provider: &Provider) -> Result<(), String> {
    let list = &provider.credential;
    if list.is_empty() || provider.auth_scheme.is_oauth() {
        return Ok(());
    }
    let mut seen = BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        let at = if list.len() == 1 { "credential".to_owned() } else { format!("credential[{i}]") };
        let token = !c.name.is_empty() && c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !token {
            return Err(format!("{at}.name {:?} must be a header or parameter name", c.name));
        }
        if c.prefix.as_deref().is_some_and(|p| p.chars().any(char::is_control)) {
            return Err(format!("{at}.prefix must not contain control characters"));
        }
        match &c.field {
            None if list.len() > 1 => {
                return Err(format!("{at}.field is required when several placements are listed"));
            }
            Some(field) if provider.field(field).is_none() => {
                return Err(format!("{at}.field {field:?} is not one of the entry's fields"));
            }
            _ => {}
        }
        // Header names are case-insensitive (RFC 9110 §5.1); query parameter names are not.
        let key = match c.location {
            CredentialIn::Header => c.name.to_ascii_lowercase(),
            CredentialIn::Query => c.name.clone(),
        };
        if !seen.insert((c.location.as_str(), key)) {
            return Err(format!("{at}: {} {:?} is placed twice", c.location.as_str(), c.name));
        }
    }
    let placed: BTreeSet<&str> = provider.placements().into_iter().map(|(_, f)| f.name.as_str()).collect();
    if let Some(f) = provider.fields.iter().find(|f| f.secret && !placed.contains(f.name.as_str())) {
        return Err(format!(
            "secret field {:?} is placed by none of the placements: add one for it (credential may be a list)",
            f.name
        ));
    }
    Ok(())
}

/// Whether a (catalog) regex could match a string containing any of `chars`: every literal and
/// class of its syntax tree is inspected, so the answer errs on the side of "yes".
fn pattern_may_match(pattern: &str, chars: &[char]) -> Result<bool, String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn walk(h: &Hir, chars: &[char]) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => false,
            HirKind::Literal(lit) => String::from_utf8_lossy(&lit.0).contains(chars),
            HirKind::Class(Class::Unicode(c)) => {
                c.ranges().iter().any(|r| chars.iter().any(|&x| r.start() <= x && x <= r.end()))
            }
            HirKind::Class(Class::Bytes(c)) => c
                .ranges()
                .iter()
                .any(|r| chars.iter().any(|&x| u8::try_from(x).is_ok_and(|b| (r.start()..=r.end()).contains(&b)))),
            HirKind::Repetition(r) => walk(&r.sub, chars),
            HirKind::Capture(c) => walk(&c.sub, chars),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(|h| walk(h, chars)),
        }
    }
    let hir = regex_syntax::Parser::new()
        .parse(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("pattern {pattern:?} is not a valid regex ({e})"))?;
    Ok(walk(&hir, chars))
}
