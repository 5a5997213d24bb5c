//! Entry checks of the catalog: what serde cannot check (URL shapes, placeholders, scopes,
//! parameters) and where in a file an entry or field is, for errors that name the line.

use std::collections::BTreeSet;

use url::Url;

use super::{CatalogErrorKind, Provider, RESERVED_AUTHORIZATION_PARAMS, category_name};

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
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // An unknown or missing field is named by the message, not the path.
        let named = message.split('`').nth(1).map(str::to_owned);
        let (field, location) = if path.is_empty() || path == "." {
            (named, String::new())
        } else {
            (Some(path.clone()), format!("field `{path}`: "))
        };
        (field, CatalogErrorKind::Entry { entry, location, message })
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
        check_url(url, &declared).map_err(|reason| CatalogErrorKind::InvalidUrl {
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
        check_url(url, &declared).map_err(|reason| CatalogErrorKind::InvalidUrl {
            slug: slug.clone(),
            field: "revocation_url",
            url: url.clone(),
            reason,
        })?;
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

    if let Some(nested) = &provider.token_response_nested {
        if !is_identifier(nested) {
            return Err(invalid("token_response_nested", format!("{nested:?} must match [a-z][a-z0-9_]*")));
        }
    }
    let mut quirks = BTreeSet::new();
    for quirk in &provider.quirks {
        if !quirks.insert(format!("{quirk:?}")) {
            return Err(invalid("quirks", format!("{quirk:?} is listed twice")));
        }
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

pub(super) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
