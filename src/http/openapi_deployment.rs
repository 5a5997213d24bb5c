//! The rules that depend on the running server's settings, added to the document
//! `GET /openapi.json` serves (the static [`super::spec`] knows none of them).
//!
//! Callback URLs: what the operator's `AUTHLINK_CALLBACK_ALLOWLIST` admits (loopback only when it
//! is empty), as a pattern per entry. The pattern is narrower than the check (no query string,
//! no percent escapes or dot segments, the default port left out), so every URL it matches is
//! accepted.
//!
//! `POST auth_configs`, from the catalog and the outbound policy: a catalog toolkit takes only
//! its own `authScheme`; an `API_KEY` / `BEARER_TOKEN` / `BASIC` config takes no OAuth
//! credential; an `OAUTH2` config needs `client_id` and `client_secret` and takes no OAuth 1.0a
//! setting; an `OAUTH1` config needs its consumer key and secret (under either name) and takes
//! no OAuth 2.0 setting; and a toolkit outside the catalog brings its own endpoints (unless the
//! operator forbids tenant endpoints, when it cannot be created at all). The body schema becomes `anyOf` these cases; the enums are the
//! catalog's slugs, so an operator's catalog directory is described as it is.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};

use crate::{
    catalog::{AuthScheme, Catalog},
    domain::{CallbackAllowlist, LinkUrlAllowlist, PrefixParts},
    outbound::OutboundPolicy,
    service::context::Settings,
};

/// A path segment the URL parser keeps as written: no dot segment, no percent escape.
const SEGMENT: &str = "(?:[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)?";
/// A TCP port from 1 to 65535.
const PORT: &str = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// Escapes the characters with a meaning in a pattern (only those: ECMAScript's unicode mode
/// refuses other escapes).
fn escape(text: &str) -> String {
    text.chars().map(|c| if ".^$|?*+()[]{}\\".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

/// What [`CallbackAllowlist::check`] accepts, as far as a pattern can say it.
pub fn callback_pattern(allowlist: &CallbackAllowlist) -> String {
    let rest = format!("(?:/{SEGMENT})*");
    let mut choices: Vec<String> = allowlist.prefixes().map(prefix_choice).collect();
    if choices.is_empty() {
        choices.push(format!("https?://(?:localhost|127\\.0\\.0\\.1|\\[::1\\])(?::{PORT})?{rest}"));
    }
    format!("^(?:{})$", choices.join("|"))
}

/// One allowlist entry as a pattern: its origin and leading segments, then any further segments.
fn prefix_choice((scheme, host, port, segments): PrefixParts<'_>) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let path: String = segments.iter().map(|s| format!("/{}", escape(s))).collect();
    format!("{scheme}://{}{}{path}(?:/{SEGMENT}(?:/{SEGMENT})*)?", escape(host), escape(&port))
}

/// What [`LinkUrlAllowlist::allows`] accepts as a session's `experimental.link_url_overwrite`
/// (and the session check's absolute http(s) URL without query): the operator's entries, or
/// with none the public URL's origin with any path.
pub fn link_url_pattern(allowlist: &LinkUrlAllowlist, public_base: &str) -> String {
    let mut choices: Vec<String> = allowlist.prefixes().map(prefix_choice).collect();
    if choices.is_empty()
        && let Ok(base) = url::Url::parse(public_base)
        && let Some(host) = base.host_str()
    {
        let default = if base.scheme() == "https" { 443 } else { 80 };
        let port = base.port_or_known_default().filter(|p| *p != default);
        choices.push(prefix_choice((base.scheme(), host, port, &[])));
    }
    format!("^(?:{})/?$", choices.join("|"))
}

/// Every credential field [`super::auth_configs::CredentialsInput`] has: what a non-OAuth config
/// must leave out (or `null`).
const OAUTH_FIELDS: [&str; 11] = [
    "client_id",
    "client_secret",
    "scopes",
    "authorization_url",
    "token_url",
    "client_auth",
    "issuer",
    "revocation_url",
    "consumer_key",
    "consumer_secret",
    "request_token_url",
];

/// The OAuth 1.0a settings an `OAUTH2` config refuses.
const OAUTH1_ONLY: [&str; 3] = ["consumer_key", "consumer_secret", "request_token_url"];
/// The OAuth 2.0 settings an `OAUTH1` config refuses.
const OAUTH2_ONLY: [&str; 4] = ["scopes", "client_auth", "issuer", "revocation_url"];
/// The endpoints an `OAUTH1` config may override (required outside the catalog).
const OAUTH1_ENDPOINTS: [&str; 3] = ["request_token_url", "authorization_url", "token_url"];

fn not_null() -> Value {
    json!({ "not": { "type": "null" } })
}

/// `credentials` with `required` present and not null, `refused` absent or null; with
/// `no_endpoints`, the endpoint fields absent or null too (the policy refuses them).
fn oauth_credentials(required: &[&str], refused: &[&str], no_endpoints: bool) -> Value {
    let mut properties = serde_json::Map::new();
    for field in required {
        properties.insert((*field).to_owned(), not_null());
    }
    let endpoints: &[&str] =
        if no_endpoints { &["authorization_url", "token_url", "revocation_url", "request_token_url"] } else { &[] };
    // The issuer is an identifier, never fetched: the policy allows it still.
    for field in refused.iter().chain(endpoints) {
        properties.insert((*field).to_owned(), json!({ "type": "null" }));
    }
    json!({ "type": "object", "required": required, "properties": properties })
}

/// `OAUTH1` credentials: the consumer key and secret under either name (`consumer_key` or
/// `client_id`, `consumer_secret` or `client_secret`), `endpoints` present, no OAuth 2.0 setting.
fn oauth1_credentials(endpoints: &[&str], no_endpoints: bool) -> Value {
    let mut credentials = oauth_credentials(endpoints, &OAUTH2_ONLY, no_endpoints);
    let either = |a: &str, b: &str| {
        json!({ "anyOf": [
            { "required": [a], "properties": { a: not_null() } },
            { "required": [b], "properties": { b: not_null() } },
        ] })
    };
    credentials["allOf"] = json!([either("consumer_key", "client_id"), either("consumer_secret", "client_secret")]);
    credentials
}

fn case(slug: Value, scheme: AuthScheme, credentials: Value) -> Value {
    // OAuth credentials are required; the other schemes' may be left out.
    let oauth = matches!(scheme, AuthScheme::OAuth2 | AuthScheme::OAuth1);
    let required = if oauth { json!(["authScheme", "credentials"]) } else { json!(["authScheme"]) };
    let mut case = json!({
        // Without `auth_config` the server has nothing to register: refused, whatever the toolkit.
        "required": ["toolkit", "auth_config"],
        "properties": {
            "toolkit": { "type": "object", "required": ["slug"], "properties": {} },
            "auth_config": { "type": "object", "required": required, "properties": {
                "authScheme": { "const": scheme.as_str() },
            } },
        },
    });
    case["properties"]["toolkit"]["properties"]["slug"] = slug;
    case["properties"]["auth_config"]["properties"]["credentials"] = credentials;
    case
}

/// The cases, one per scheme the catalog has and one per OAuth version for toolkits outside it.
pub fn auth_config_cases(catalog: &Catalog, policy: &OutboundPolicy) -> Value {
    let no_endpoints = policy.tenant_endpoints_forbidden();
    let mut cases = Vec::new();
    for scheme in AuthScheme::ALL {
        let slugs: Vec<&str> = catalog.iter().filter(|p| p.auth_scheme == scheme).map(|p| p.slug.as_str()).collect();
        if slugs.is_empty() {
            continue;
        }
        let slug = json!({ "type": "string", "enum": slugs });
        let credentials = match scheme {
            AuthScheme::OAuth2 => oauth_credentials(&["client_id", "client_secret"], &OAUTH1_ONLY, no_endpoints),
            AuthScheme::OAuth1 => oauth1_credentials(&[], no_endpoints),
            _ => {
                let none: serde_json::Map<String, Value> =
                    OAUTH_FIELDS.iter().map(|f| ((*f).to_owned(), json!({ "type": "null" }))).collect();
                json!({ "oneOf": [{ "type": "null" }, { "type": "object", "properties": none }] })
            }
        };
        cases.push(case(slug, scheme, credentials));
    }
    if !no_endpoints {
        let known: Vec<&str> = catalog.iter().map(|p| p.slug.as_str()).collect();
        // Lower case, as the catalog's keys are: another spelling of a catalog slug is that toolkit.
        let slug = json!({ "type": "string", "pattern": "^[a-z0-9_-]{1,64}$", "not": { "enum": known } });
        let credentials =
            oauth_credentials(&["client_id", "client_secret", "authorization_url", "token_url"], &OAUTH1_ONLY, false);
        cases.push(case(slug.clone(), AuthScheme::OAuth2, credentials));
        cases.push(case(slug, AuthScheme::OAuth1, oauth1_credentials(&OAUTH1_ENDPOINTS, false)));
    }
    json!(cases)
}

/// Adds [`auth_config_cases`] to `CreateAuthConfigRequest` as `anyOf` (through the extension
/// map: utoipa's object schema has no such field), and [`callback_pattern`] to every
/// `callback_url`.
pub fn add(doc: &mut utoipa::openapi::OpenApi, catalog: &Catalog, settings: &Settings) {
    let (policy, callbacks) = (&settings.outbound, &settings.callback_allowlist);
    let Some(components) = doc.components.as_mut() else { return };
    if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("SessionExperimentalInput") {
        let pattern = link_url_pattern(&settings.link_url_allowlist, &settings.public_base);
        let url = json!({ "oneOf": [{ "type": "string", "pattern": pattern }, { "type": "null" }] });
        if let Ok(schema) = serde_json::from_value(url) {
            o.properties.insert("link_url_overwrite".to_owned(), schema);
        }
    }
    let url = json!({ "oneOf": [
        { "type": "string", "maxLength": 2048, "pattern": callback_pattern(callbacks) },
        { "type": "null" },
    ] });
    for component in ["ManageConnectionsInput", "SessionLinkRequest", "UserLinkRequest", "LegacyConnection"] {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(component)
            && let Ok(schema) = serde_json::from_value(url.clone())
        {
            o.properties.insert("callback_url".to_owned(), schema);
        }
    }
    if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("CreateAuthConfigRequest") {
        o.extensions
            .get_or_insert_with(Default::default)
            .insert("anyOf".to_owned(), auth_config_cases(catalog, policy));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::{
        catalog::{AuthScheme, Catalog},
        outbound::OutboundPolicy,
    };

    fn scheme_of(case: &Value) -> &str {
        case["properties"]["auth_config"]["properties"]["authScheme"]["const"].as_str().unwrap()
    }

    /// One case per scheme the catalog has, listing exactly its toolkits, and one for the rest.
    #[test]
    fn cases_follow_the_catalog() {
        let catalog = Catalog::embedded().unwrap();
        let cases = super::auth_config_cases(&catalog, &OutboundPolicy::new("".parse().unwrap(), false));
        let cases = cases.as_array().unwrap();
        for scheme in AuthScheme::ALL {
            let want: Vec<&str> = catalog.iter().filter(|p| p.auth_scheme == scheme).map(|p| p.slug.as_str()).collect();
            let Some(case) = cases.iter().find(|c| {
                scheme_of(c) == scheme.as_str() && c["properties"]["toolkit"]["properties"]["slug"]["enum"].is_array()
            }) else {
                assert!(want.is_empty(), "{scheme} has toolkits but no case");
                continue;
            };
            let got: Vec<&str> = case["properties"]["toolkit"]["properties"]["slug"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{scheme}");
            let creds = &case["properties"]["auth_config"]["properties"]["credentials"];
            if scheme == AuthScheme::OAuth2 {
                assert_eq!(creds["required"], serde_json::json!(["client_id", "client_secret"]));
                assert_eq!(creds["properties"]["consumer_key"]["type"], "null");
            } else if scheme == AuthScheme::OAuth1 {
                assert_eq!(creds["allOf"][0]["anyOf"][1]["required"], serde_json::json!(["client_id"]));
                assert_eq!(creds["allOf"][1]["anyOf"][0]["required"], serde_json::json!(["consumer_secret"]));
                assert_eq!(creds["properties"]["scopes"]["type"], "null");
            } else {
                assert_eq!(creds["oneOf"][1]["properties"]["client_secret"]["type"], "null");
            }
        }
        let outside: Vec<&Value> =
            cases.iter().filter(|c| c["properties"]["toolkit"]["properties"]["slug"]["not"].is_object()).collect();
        assert_eq!(outside.iter().map(|c| scheme_of(c)).collect::<Vec<_>>(), ["OAUTH2", "OAUTH1"]);
        let required = &outside[0]["properties"]["auth_config"]["properties"]["credentials"]["required"];
        assert_eq!(*required, serde_json::json!(["client_id", "client_secret", "authorization_url", "token_url"]));
        let required = &outside[1]["properties"]["auth_config"]["properties"]["credentials"]["required"];
        assert_eq!(*required, serde_json::json!(["request_token_url", "authorization_url", "token_url"]));
        assert!(cases.iter().all(|c| c["required"] == serde_json::json!(["toolkit", "auth_config"])));

        // Tenant endpoints forbidden: no toolkit outside the catalog, no endpoint overrides.
        let strict = super::auth_config_cases(&catalog, &OutboundPolicy::new("".parse().unwrap(), true));
        let strict = strict.as_array().unwrap();
        assert_eq!(strict.len(), cases.len() - 2);
        let oauth = strict.iter().find(|c| scheme_of(c) == "OAUTH2").unwrap();
        assert_eq!(
            oauth["properties"]["auth_config"]["properties"]["credentials"]["properties"]["token_url"]["type"],
            "null"
        );
        assert_eq!(oauth["properties"]["auth_config"]["required"], serde_json::json!(["authScheme", "credentials"]));
    }

    /// The link-URL pattern accepts only what the session's check accepts: an absolute http(s)
    /// URL without query that the operator's list (or, with none, the public origin) allows.
    #[test]
    fn link_url_pattern_is_within_the_check() {
        let urls = [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/links/base",
            "http://127.0.0.1:8081/x",
            "http://127.0.0.1:8080/?q=1",
            "http://127.0.0.1:8080/#f",
            "http://u@127.0.0.1:8080/",
            "https://links.example.com/a",
            "https://links.example.com/a/b",
            "https://links.example.com/ab",
            "https://links.example.com:444/a",
            "https://evil.example.com/a",
        ];
        for (list, public, want) in [
            ("", "http://127.0.0.1:8080", 3),
            ("https://links.example.com/a", "http://127.0.0.1:8080", 2),
            ("", "https://auth.example.com", 0),
        ] {
            let allowlist: crate::domain::LinkUrlAllowlist = list.parse().unwrap();
            let re = regex::Regex::new(&super::link_url_pattern(&allowlist, public)).unwrap();
            let mut matched = 0;
            for url in urls {
                if re.is_match(url) {
                    matched += 1;
                    let parsed = url::Url::parse(url).unwrap();
                    assert!(parsed.query().is_none() && parsed.host_str().is_some(), "{list:?}: {url}");
                    assert!(
                        allowlist.allows(url, public),
                        "{list:?}: the pattern matches {url}, which the check refuses"
                    );
                }
            }
            assert_eq!(matched, want, "{list:?} / {public}");
        }
    }

    /// The callback pattern accepts only what the allowlist's check accepts (table-driven).
    #[test]
    fn callback_pattern_is_within_the_check() {
        for (list, urls) in [
            (
                "",
                &[
                    "http://localhost:3000/cb",
                    "http://127.0.0.1/",
                    "https://[::1]:8443/a/b",
                    "http://localhost",
                    "https://app.example.com/cb",
                    "http://localhost:99999/",
                    "http://localhost/a/../b",
                    "http://localhost/#x",
                    "http://localhost/?status=1",
                    "",
                ][..],
            ),
            (
                "https://app.example.com/cb, http://127.0.0.1:9000",
                &[
                    "https://app.example.com/cb",
                    "https://app.example.com/cb/done",
                    "https://app.example.com/cbevil",
                    "https://app.example.com/",
                    "https://app.example.com:8443/cb",
                    "http://127.0.0.1:9000/x",
                    "http://127.0.0.1/x",
                    "https://app.example.com/cb/%2e%2e/x",
                    "https://u@app.example.com/cb",
                ][..],
            ),
        ] {
            let allowlist: crate::domain::CallbackAllowlist = list.parse().unwrap();
            let re = regex::Regex::new(&super::callback_pattern(&allowlist)).unwrap();
            let mut matched = 0;
            for url in urls {
                if re.is_match(url) {
                    matched += 1;
                    assert!(
                        allowlist.check(url).is_ok(),
                        "{list:?}: the pattern matches {url}, which the check refuses"
                    );
                }
            }
            assert!(matched >= 3, "{list:?}: only {matched} matched");
        }
    }
}
