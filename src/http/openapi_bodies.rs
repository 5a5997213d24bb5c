//! The request-body rules the handlers check by hand, written into the document's component
//! schemas: enums taken from the Rust enums ([`AuthScheme::ALL`], [`ClientAuth`],
//! [`AccountType`]), id patterns from the id parsers, and the rules between fields
//! (`enable` xor `disable`, a reconnect takes no `alias`, an ACL only on a SHARED account).
//! Derived types cannot carry these (utoipa takes no pattern on a tuple variant, and has no
//! `not`/`if`), so this pass replaces the properties by name after the document is generated.
//! A client, or schemathesis, then knows what is a 400 before sending it.
//!
//! JSON Schema keywords utoipa's types lack (`not`, `if`, `then`) are written through the
//! schema's extension map, which utoipa serializes flattened into the schema object.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema, schema::Object};

use crate::{
    catalog::{AuthScheme, ClientAuth},
    domain::{
        acl::AccountType,
        ids::{AuthConfigId, ConnectedAccountId},
    },
};

/// A toolkit slug as `ToolkitSlug::parse` takes it (trimmed first).
fn slug() -> Value {
    string(&format!("^[{WS}]*[A-Za-z0-9_-]{{1,64}}[{WS}]*$"))
}

/// A slug that must name a toolkit the project knows (`service::toolkits::ensure_known`: the
/// catalog's, `GET toolkits`, or one the project configured with its own endpoints), else
/// `ToolRouterV2_InvalidToolkitSlugs`. Which toolkits those are is data, not shape, so the
/// document says it with the format `authlink-toolkit`, as it does for cursors;
/// `scripts/schemathesis-hooks.py` draws them from the catalog.
fn known_toolkit() -> Value {
    let mut s = slug();
    s["format"] = json!("authlink-toolkit");
    s
}

/// An https URL with a DNS host name, no userinfo and no fragment (what the outbound policy's
/// `check_tenant_endpoint` accepts, as far as a pattern can say: it also refuses hosts that
/// resolve to private addresses). `query` says whether a query string may follow.
fn https_url(query: bool) -> String {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let path = "[A-Za-z0-9._~!$&'()*+,;=:@%/-]";
    let query = if query { format!("(?:\\?(?:{path}|\\?)*)?") } else { String::new() };
    format!("^https://(?:{label}\\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}(?:/{path}*)?{query}$")
}

fn nullable(schema: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("oneOf".to_owned(), Value::Array(vec![schema, json!({ "type": "null" })]));
    Value::Object(out)
}

fn string(pattern: &str) -> Value {
    json!({ "type": "string", "pattern": pattern })
}

/// `^…$` of an id type.
fn id(pattern: &str) -> Value {
    json!({ "type": "string", "pattern": pattern })
}

/// Whitespace as Rust's `str::trim` strips it (Unicode `White_Space`), spelled out because
/// regex engines disagree on `\s`.
const WS: &str = "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/// `char::is_control`: the `Cc` category.
const CC: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// A display name as `branding::display_name` takes it: after trimming, 1 to `max` characters,
/// none of them a control character.
fn trimmed_text(max: usize) -> String {
    format!("^[{WS}]*[^{WS}{CC}](?:[^{CC}]{{0,{}}}[^{WS}{CC}])?[{WS}]*$", max - 2)
}

/// An app credential (`auth_configs::no_control_characters`): 1 to `max` characters, none of
/// them a control character.
fn credential(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": format!("^[^{CC}]*$") })
}

/// Replaces (or adds) property `name` of object component `component`.
fn set(components: &mut utoipa::openapi::Components, component: &str, name: &str, schema: Value) {
    #[expect(clippy::expect_used, reason = "the schemas above are literals this module's tests parse")]
    let schema: RefOr<Schema> = serde_json::from_value(schema).expect("a valid schema literal");
    if let Some(o) = object(components, component) {
        o.properties.insert(name.to_owned(), schema);
    }
}

fn object<'a>(components: &'a mut utoipa::openapi::Components, component: &str) -> Option<&'a mut Object> {
    match components.schemas.get_mut(component) {
        Some(RefOr::T(Schema::Object(o))) => Some(o),
        _ => None,
    }
}

/// Adds a JSON Schema keyword utoipa has no field for (`not`, `if`, `then`) to a component.
fn keyword(components: &mut utoipa::openapi::Components, component: &str, key: &str, value: Value) {
    if let Some(o) = object(components, component) {
        o.extensions.get_or_insert_with(Default::default).insert(key.to_owned(), value);
    }
}

fn require(components: &mut utoipa::openapi::Components, component: &str, name: &str) {
    if let Some(o) = object(components, component)
        && !o.required.iter().any(|r| r == name)
    {
        o.required.push(name.to_owned());
    }
}

/// Both fields present and not null: what `not` refuses for two exclusive fields.
fn both(a: &str, a_type: &str, b: &str, b_type: &str) -> Value {
    json!({ "required": [a, b], "properties": { a: { "type": a_type }, b: { "type": b_type } } })
}

pub fn refine(components: &mut utoipa::openapi::Components) {
    let schemes: Vec<&str> = AuthScheme::ALL.iter().map(|s| s.as_str()).collect();
    let client_auth = [ClientAuth::ClientSecretBasic, ClientAuth::ClientSecretPost].map(ClientAuth::as_str);
    let account_types = [AccountType::Private, AccountType::Shared].map(AccountType::as_str);
    let ca = || id(&ConnectedAccountId::pattern());
    let ac = || id(&AuthConfigId::pattern());

    // POST auth_configs: `auth_config` with `type` use_custom_auth and a known `authScheme`.
    set(components, "ToolkitInput", "slug", slug());
    set(
        components,
        "CreateAuthConfigRequest",
        "auth_config",
        json!({ "$ref": "#/components/schemas/AuthConfigInput" }),
    );
    require(components, "CreateAuthConfigRequest", "auth_config");
    set(components, "AuthConfigInput", "type", json!({ "type": "string", "enum": ["use_custom_auth"] }));
    set(
        components,
        "AuthConfigInput",
        "authScheme",
        json!({ "type": "string", "enum": schemes, "description":
            "The toolkit's scheme in the catalog (toolkits outside the catalog are `OAUTH2`). camelCase key, as Composio's wire format." }),
    );
    require(components, "AuthConfigInput", "authScheme");
    for component in ["CredentialsInput", "CredentialsUpdate"] {
        set(components, component, "authorization_url", nullable(string(&https_url(false))));
        set(components, component, "token_url", nullable(string(&https_url(true))));
        set(components, component, "issuer", nullable(string(&https_url(false))));
        set(components, component, "revocation_url", nullable(string(&https_url(true))));
        set(components, component, "client_auth", nullable(json!({ "type": "string", "enum": client_auth })));
        set(components, component, "client_id", nullable(credential(512)));
        set(components, component, "client_secret", nullable(credential(4096)));
    }
    set(components, "CredentialsInput", "consumer_key", nullable(credential(512)));
    set(components, "CredentialsInput", "consumer_secret", nullable(credential(4096)));
    set(components, "CredentialsInput", "request_token_url", nullable(string(&https_url(true))));
    // PATCH auth_configs/{id}: every authlink config is `custom`.
    set(components, "UpdateAuthConfigRequest", "type", nullable(json!({ "type": "string", "enum": ["custom"] })));

    // Sessions: slugs, pinned ids, and `enable` xor `disable`.
    let slugs = || nullable(json!({ "type": "array", "items": known_toolkit() }));
    set(components, "ToolkitsInput", "enable", slugs());
    set(components, "ToolkitsInput", "disable", slugs());
    keyword(components, "ToolkitsInput", "not", both("enable", "array", "disable", "array"));
    #[expect(clippy::expect_used, reason = "a literal this module's tests parse")]
    let one_or_many: RefOr<Schema> = serde_json::from_value(json!({
        "description": "A pin: one `ca_…` id (v3) or a list (v3.1); both accepted on either path.",
        "oneOf": [ca(), { "type": "array", "items": ca() }],
    }))
    .expect("a valid schema literal");
    components.schemas.insert("OneOrMany".to_owned(), one_or_many);
    for component in ["CreateSessionRequest", "UpdateSessionRequest"] {
        let map = |values: Value| {
            nullable(json!({ "type": "object", "propertyNames": known_toolkit(), "additionalProperties": values }))
        };
        set(components, component, "auth_configs", map(ac()));
        set(components, component, "connected_accounts", map(json!({ "$ref": "#/components/schemas/OneOrMany" })));
    }

    // Links: a reconnect keeps the account's alias and ACL; an ACL needs a SHARED account.
    let mut link_toolkit = known_toolkit();
    link_toolkit["minLength"] = json!(1);
    link_toolkit["maxLength"] = json!(64);
    set(components, "SessionLinkRequest", "toolkit", link_toolkit);
    for component in ["SessionLinkRequest", "UserLinkRequest"] {
        set(components, component, "connected_account_id", nullable(ca()));
        keyword(
            components,
            component,
            "not",
            json!({ "anyOf": [
                both("connected_account_id", "string", "alias", "string"),
                both("connected_account_id", "string", "experimental", "object"),
            ] }),
        );
    }
    set(components, "LinkExperimental", "account_type", nullable(json!({ "type": "string", "enum": account_types })));
    keyword(
        components,
        "LinkExperimental",
        "if",
        json!({ "required": ["acl_config_for_shared"], "properties": { "acl_config_for_shared": { "type": "object" } } }),
    );
    keyword(
        components,
        "LinkExperimental",
        "then",
        json!({ "required": ["account_type"], "properties": { "account_type": { "const": AccountType::Shared.as_str() } } }),
    );

    // POST toolkits/multi: the listing's enums and paging in a body.
    set(
        components,
        "MultiRequest",
        "toolkits",
        nullable(json!({ "type": "array", "items": slug(), "maxItems": 1000 })),
    );
    set(
        components,
        "MultiRequest",
        "managed_by",
        nullable(json!({ "type": "string", "enum": ["all", "composio", "project"] })),
    );
    set(
        components,
        "MultiRequest",
        "sort_by",
        nullable(json!({ "type": "string", "enum": ["usage", "alphabetically"] })),
    );
    set(components, "MultiRequest", "limit", nullable(json!({ "type": "integer", "minimum": 1, "maximum": 1000 })));
    set(components, "MultiRequest", "cursor", nullable(json!({ "type": "string", "format": "authlink-cursor" })));

    // PATCH link_page (`branding::validate`).
    set(
        components,
        "LinkPagePatch",
        "display_name",
        nullable(string(&trimmed_text(super::pages::branding::MAX_DISPLAY_NAME))),
    );
    set(components, "LinkPagePatch", "accent_color", nullable(string("^#[0-9A-Fa-f]{6}$")));
    set(
        components,
        "LinkPagePatch",
        "support_url",
        nullable(
            json!({ "type": "string", "maxLength": super::pages::branding::MAX_SUPPORT_URL, "pattern": https_url(true) }),
        ),
    );
}

/// A JSON-RPC 2.0 message as the MCP transport parses it (`rmcp`'s `ClientJsonRpcMessage`):
/// a request (`id` and `method`; a method the server does not know gets JSON-RPC's "method not
/// found"), a notification (`method`), a response (`id` and `result`) or an error (`error`, and
/// an `id` that may be null or absent); `params`, when sent, is an object (or `null`). Anything else is the documented 400.
fn jsonrpc_message() -> Value {
    // `enum`, not `const`: utoipa's schema type keeps no `const` it reads back.
    let version = json!({ "type": "string", "enum": ["2.0"] });
    let id = json!({ "oneOf": [
        { "type": "string" },
        { "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX },
    ] });
    let code = json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX });
    let params = json!({ "oneOf": [
        { "type": "object", "properties": { "_meta": { "oneOf": [{ "type": "object" }, { "type": "null" }] } } },
        { "type": "null" },
    ] });
    json!({
        "description": "A JSON-RPC 2.0 message of the Model Context Protocol",
        "anyOf": [
            { "type": "object", "required": ["jsonrpc", "id", "method"],
              "properties": { "jsonrpc": version, "id": id, "method": { "type": "string" }, "params": params } },
            { "type": "object", "required": ["jsonrpc", "method"],
              "properties": { "jsonrpc": version, "method": { "type": "string" }, "params": params } },
            { "type": "object", "required": ["jsonrpc", "id", "result"],
              "properties": { "jsonrpc": version, "id": id } },
            // JSON-RPC 2.0 §5: an error answers with `id` null when the request's id was unreadable;
            // the transport reads a missing `id` as that null.
            { "type": "object", "required": ["jsonrpc", "error"],
              "properties": { "jsonrpc": version, "id": { "oneOf": [id, { "type": "null" }] }, "error": {
                  "type": "object", "required": ["code", "message"],
                  "properties": { "code": code, "message": { "type": "string" } } } } },
        ],
    })
}

/// Gives both MCP endpoints the [`jsonrpc_message`] body, and the logo upload a binary body
/// (utoipa writes `Vec<u8>` as an array of integers, which is not what is sent).
pub fn bodies(doc: &mut utoipa::openapi::OpenApi) {
    // The hosted form's post always has a body: without one it is the documented 415.
    let form = doc.paths.paths.get_mut("/link/{token}/fields").and_then(|item| item.post.as_mut());
    if let Some(body) = form.and_then(|op| op.request_body.as_mut()) {
        body.required = Some(utoipa::openapi::Required::True);
    }
    for path in ["/api/v3.1/link_page/logo", "/api/v3/link_page/logo"] {
        let body =
            doc.paths.paths.get_mut(path).and_then(|item| item.put.as_mut()).and_then(|op| op.request_body.as_mut());
        for content in body.into_iter().flat_map(|b| b.content.values_mut()) {
            #[expect(clippy::expect_used, reason = "a literal this module's tests parse")]
            let binary: RefOr<Schema> = serde_json::from_value(json!({
                "type": "string", "format": "binary", "minLength": 1,
                "maxLength": super::pages::branding::MAX_LOGO_BYTES,
                "description": "The image's bytes, starting with its type's signature (PNG, JPEG or WebP)",
            }))
            .expect("a valid schema literal");
            content.schema = Some(binary);
        }
    }
    #[expect(clippy::expect_used, reason = "a literal this module's tests parse")]
    let message: RefOr<Schema> = serde_json::from_value(jsonrpc_message()).expect("a valid schema literal");
    doc.components.get_or_insert_with(Default::default).schemas.insert("JsonRpcMessage".to_owned(), message);
    for path in ["/mcp", "/tool_router/{session_id}/mcp"] {
        let body =
            doc.paths.paths.get_mut(path).and_then(|item| item.post.as_mut()).and_then(|op| op.request_body.as_mut());
        for content in body.into_iter().flat_map(|b| b.content.values_mut()) {
            content.schema = Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("JsonRpcMessage")));
        }
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    #[test]
    fn display_name_pattern_is_the_rule() {
        let re = Regex::new(&super::trimmed_text(80)).unwrap();
        for ok in ["a", " Acme ", "Acme Inc.", &"x".repeat(80), "\tA b\n"] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in ["", "   ", &"x".repeat(81), "a\u{7}b", "a\u{85}\u{1}"] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
        // The rule itself agrees on each.
        for v in ["a", " Acme ", "", "   ", "a\u{7}b"] {
            assert_eq!(re.is_match(v), crate::http::pages::branding::display_name(v).is_ok(), "{v:?}");
        }
    }

    #[test]
    fn the_rules_are_in_the_document() {
        let doc = serde_json::to_value(crate::http::spec()).unwrap();
        let s = &doc["components"]["schemas"];
        assert_eq!(s["AuthConfigInput"]["properties"]["authScheme"]["enum"][0], "OAUTH2");
        assert!(s["AuthConfigInput"]["required"].as_array().unwrap().contains(&"authScheme".into()));
        assert!(s["ToolkitsInput"]["not"].is_object());
        assert!(s["SessionLinkRequest"]["not"]["anyOf"].is_array());
        assert_eq!(s["LinkExperimental"]["then"]["properties"]["account_type"]["const"], "SHARED");
        assert_eq!(
            doc["paths"]["/mcp"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/JsonRpcMessage"
        );
        let logo = &doc["paths"]["/api/v3.1/link_page/logo"]["put"]["requestBody"]["content"]["image/png"]["schema"];
        assert_eq!(logo["format"], "binary");
        assert_eq!(s["OneOrMany"]["oneOf"][1]["items"]["pattern"], crate::domain::ids::ConnectedAccountId::pattern());
        let url = Regex::new(&super::https_url(false)).unwrap();
        assert!(url.is_match("https://github.com/login/oauth/authorize"));
        for bad in
            ["http://github.com/x", "https://user@github.com/", "https://github.com/#x", "https://github.com/?a=b"]
        {
            assert!(!url.is_match(bad), "{bad}");
        }
    }
}
