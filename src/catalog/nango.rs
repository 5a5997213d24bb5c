//! Nango's public `providers.yaml` format, converted into authlink's entry format so a team
//! moving from Nango keeps its provider files (`AUTHLINK_CATALOG_DIR`, `authlink catalog check`).
//!
//! A Nango file is a mapping of provider names to definitions. Only `auth_mode: OAUTH2` entries
//! are read; other modes (API key, basic, OAuth 1.0a, ...) are skipped and reported. The OAuth
//! facts map one to one: `authorization_url`, `token_url`, `authorization_params`,
//! `scope_separator` (Nango's default: a space), `default_scopes`, `disable_pkce`,
//! `token_request_auth_method: basic` / `authorization_method: header` (HTTP Basic client
//! authentication), `display_name`, `docs` (the entry's `source`), `categories` and
//! `alternate_access_token_response_path: <member>.access_token` (authlink's
//! `token_response_nested`). Templated
//! connection config, `${connectionConfig.subdomain}`, becomes authlink's `{subdomain}`
//! placeholder and a required field. Settings authlink cannot honour (a JSON token request body,
//! a separate refresh URL, token parameters other than `grant_type: authorization_code`, other
//! client authentication methods, `expires_in_unit`) refuse the entry with the field named, rather than connecting
//! it differently from what the file says.

use serde_norway::{Mapping, Value};

/// An entry refused: the provider name, the field (if any) and why.
pub type Refusal = (String, Option<String>, String);

/// The converted entries (with their position in the file) and the skipped providers.
pub type Converted = (Vec<(usize, Value)>, Vec<String>);

/// Nango category ids and the authlink category each maps to; others are dropped.
const CATEGORY_MAP: &[(&str, &str)] = &[
    ("crm", "crm"),
    ("dev-tools", "developer-tools"),
    ("communication", "communication"),
    ("productivity", "productivity"),
    ("accounting", "finance"),
    ("banking", "finance"),
    ("payment", "finance"),
    ("social", "social-media"),
];

/// Converts every OAuth 2.0 provider of a Nango file into an authlink entry value (with its
/// position in the file), and lists the names of skipped non-OAuth providers.
pub fn convert(file: &Mapping) -> Result<Converted, Refusal> {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (index, (key, value)) in file.iter().enumerate() {
        let name = key.as_str().map_or_else(|| format!("{key:?}"), str::to_owned);
        let refuse = |field: Option<&str>, message: String| (name.clone(), field.map(str::to_owned), message);
        let provider = value.as_mapping().ok_or_else(|| refuse(None, "must be a mapping of provider fields".into()))?;
        let text = |field: &str| -> Result<Option<String>, Refusal> {
            match provider.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(refuse(Some(field), "must be a string".into())),
            }
        };
        match text("auth_mode")?.as_deref() {
            Some("OAUTH2") => {}
            Some(mode) => {
                skipped.push(format!("{name} (auth_mode {mode})"));
                continue;
            }
            None => return Err(refuse(Some("auth_mode"), "is missing".into())),
        }
        let mut fields: Vec<String> = Vec::new();
        let mut template = |field: &str| -> Result<String, Refusal> {
            let raw = text(field)?.ok_or_else(|| refuse(Some(field), "is missing".into()))?;
            templated(&raw, &mut fields).map_err(|m| refuse(Some(field), m))
        };
        let authorization_url = template("authorization_url")?;
        let token_url = template("token_url")?;

        if let Some(format) = text("body_format")?.filter(|f| f != "form") {
            return Err(refuse(Some("body_format"), format!("{format:?}: authlink sends token requests form-encoded")));
        }
        if let Some(refresh) = text("refresh_url")?.filter(|r| *r != token_url) {
            return Err(refuse(Some("refresh_url"), format!("{refresh:?}: authlink refreshes at token_url")));
        }
        if let Some(params) = provider.get("token_params") {
            let params = params.as_mapping().ok_or_else(|| refuse(Some("token_params"), "must be a mapping".into()))?;
            for (k, v) in params {
                if !(k.as_str() == Some("grant_type") && v.as_str() == Some("authorization_code")) {
                    return Err(refuse(
                        Some("token_params"),
                        format!("{k:?}: {v:?} is not supported (only grant_type: authorization_code)"),
                    ));
                }
            }
        }
        if let Some(unit) = text("expires_in_unit")? {
            return Err(refuse(Some("expires_in_unit"), format!("{unit:?}: authlink reads expires_in in seconds")));
        }
        // `authed_user.access_token` (Slack user tokens) is authlink's `token_response_nested`.
        let nested = match text("alternate_access_token_response_path")? {
            None => None,
            Some(path) => match path.strip_suffix(".access_token") {
                Some(member) if !member.is_empty() && !member.contains('.') => Some(member.to_owned()),
                _ => {
                    return Err(refuse(
                        Some("alternate_access_token_response_path"),
                        format!("{path:?}: only `<member>.access_token` is supported"),
                    ));
                }
            },
        };
        let basic = match text("token_request_auth_method")?.as_deref() {
            None => false,
            Some("basic") => true,
            Some(other) => {
                return Err(refuse(
                    Some("token_request_auth_method"),
                    format!("{other:?}: authlink authenticates clients with basic or post only"),
                ));
            }
        };
        let basic = basic || text("authorization_method")?.as_deref() == Some("header");
        let disable_pkce = match provider.get("disable_pkce") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(refuse(Some("disable_pkce"), "must be true or false".into())),
        };

        let mut entry = Mapping::new();
        let mut put = |k: &str, v: Value| {
            entry.insert(Value::String(k.to_owned()), v);
        };
        put("slug", Value::String(name.clone()));
        let display = text("display_name")?.unwrap_or_else(|| name.clone());
        put("description", Value::String(format!("{display} (from a Nango provider file).")));
        put("name", Value::String(display));
        put("authorization_url", Value::String(authorization_url));
        put("token_url", Value::String(token_url));
        put("default_scopes", provider.get("default_scopes").cloned().unwrap_or(Value::Sequence(Vec::new())));
        put("scope_separator", Value::String(text("scope_separator")?.unwrap_or_else(|| " ".to_owned())));
        put("pkce", Value::Bool(!disable_pkce));
        if disable_pkce {
            put("pkce_off_reason", Value::String("the Nango provider file sets disable_pkce: true".into()));
        }
        put("client_auth", Value::String(if basic { "client_secret_basic" } else { "client_secret_post" }.into()));
        if let Some(params) = provider.get("authorization_params") {
            let params =
                params.as_mapping().ok_or_else(|| refuse(Some("authorization_params"), "must be a mapping".into()))?;
            let mut out = Mapping::new();
            for (k, v) in params {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(refuse(Some("authorization_params"), format!("{k:?} must be a scalar"))),
                };
                let v = templated(&v, &mut fields).map_err(|m| refuse(Some("authorization_params"), m))?;
                out.insert(k.clone(), Value::String(v));
            }
            put("extra_authorization_params", Value::Mapping(out));
        }
        if let Some(source) = text("docs")? {
            put("source", Value::String(source));
        }
        if let Some(Value::Sequence(categories)) = provider.get("categories") {
            let mut mapped: Vec<Value> = Vec::new();
            for c in categories.iter().filter_map(Value::as_str) {
                if let Some((_, ours)) = CATEGORY_MAP.iter().find(|(n, _)| *n == c) {
                    let ours = Value::String((*ours).to_owned());
                    if !mapped.contains(&ours) {
                        mapped.push(ours);
                    }
                }
            }
            put("categories", Value::Sequence(mapped));
        }
        if let Some(member) = nested {
            put("token_response_nested", Value::String(member));
        }
        // Nango's connection-config values become host-label fields (the only kind an OAUTH2
        // entry may template its URLs with).
        let specs = fields
            .into_iter()
            .map(|name| {
                let mut f = Mapping::new();
                f.insert(Value::String("display_name".into()), Value::String(name.replace('_', " ")));
                f.insert(Value::String("name".into()), Value::String(name));
                f.insert(Value::String("pattern".into()), Value::String(super::HOST_LABEL_PATTERN.into()));
                Value::Mapping(f)
            })
            .collect();
        put("fields", Value::Sequence(specs));
        entries.push((index, Value::Mapping(entry)));
    }
    Ok((entries, skipped))
}

/// Rewrites `${connectionConfig.name}` into `{name}`, collecting each name once.
fn templated(raw: &str, fields: &mut Vec<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("has an unclosed `${`")?;
        let expression = &after[..end];
        let name = expression.strip_prefix("connectionConfig.").ok_or_else(|| {
            format!("template ${{{expression}}} is not supported (only ${{connectionConfig.<name>}})")
        })?;
        // authlink's field names are snake_case: `instanceUrl` becomes `instance_url`.
        let mut name_snake = String::with_capacity(name.len() + 4);
        for c in name.chars() {
            if c.is_ascii_uppercase() {
                name_snake.push('_');
                name_snake.push(c.to_ascii_lowercase());
            } else {
                name_snake.push(c);
            }
        }
        if !fields.contains(&name_snake) {
            fields.push(name_snake.clone());
        }
        out.push('{');
        out.push_str(&name_snake);
        out.push('}');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The Nango field an authlink field came from, to point an error at its line.
pub fn field_name(authlink: &str) -> &str {
    match authlink {
        "source" => "docs",
        "name" => "display_name",
        "pkce" | "pkce_off_reason" => "disable_pkce",
        "client_auth" => "token_request_auth_method",
        "extra_authorization_params" => "authorization_params",
        other => other,
    }
}
