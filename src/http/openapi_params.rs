//! What the server accepts in each path and query parameter, written into the OpenAPI document in
//! one place. The handlers declare their parameters as plain strings (they parse them
//! themselves, to answer a bad value in the envelope naming the parameter); this pass gives each
//! one the shape its parser enforces, taken from the parsers' own definitions where they have one
//! ([`crate::domain::ids`], [`AccountStatus`]), so a client, or a generator such as schemathesis,
//! knows what is accepted and what is a 400.
//!
//! Cursors are opaque: only a `next_cursor` this API returned is valid. The document says so
//! with the formats `authlink-cursor` (keyset listings) and `authlink-offset-cursor` (a session's
//! toolkits); `scripts/schemathesis-hooks.py` teaches the generator to write them.

use utoipa::openapi::{
    self, ArrayBuilder, ObjectBuilder, RefOr, Schema, SchemaFormat, Type,
    path::ParameterIn,
    schema::{AdditionalProperties, AnyOfBuilder, ArrayItems, KnownFormat, SchemaType},
};

use crate::domain::{
    ids::{AuthConfigId, ConnectedAccountId, SessionId, WebhookSubscriptionId},
    status::AccountStatus,
    token::LinkToken,
};

/// A toolkit slug as `ToolkitSlug::parse` takes it: 1 to 64 of these, any case.
const SLUG: &str = "[A-Za-z0-9_-]{1,64}";

fn string(pattern: String) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern))
}

fn one_of(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied()))
}

/// A query value that is empty counts as absent (`LenientQuery`), so each allows `""` too.
fn one_of_or_empty(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied().chain([""])))
}

/// A comma-joined list (`comma_list`: items trimmed, empty ones dropped) of `item`s.
fn comma_list(item: &str) -> ObjectBuilder {
    string(format!("^ *(?:(?:{item}) *)?(?:, *(?:(?:{item}) *)?)*$"))
}

/// `^…$` without its anchors, to embed in a list.
fn bare(pattern: &str) -> String {
    pattern.trim_start_matches('^').trim_end_matches('$').to_owned()
}

/// The path without its `/api/v3` or `/api/v3.1` prefix, and its first segment.
fn resource(path: &str) -> (&str, &str) {
    let path = path.strip_prefix("/api/v3.1").or_else(|| path.strip_prefix("/api/v3")).unwrap_or(path);
    (path, path.split('/').nth(1).unwrap_or_default())
}

fn path_parameter(path: &str, name: &str) -> Option<ObjectBuilder> {
    Some(match (name, resource(path).1) {
        ("session_id", _) => string(SessionId::pattern()),
        ("id", "connected_accounts") => string(ConnectedAccountId::pattern()),
        ("id", "auth_configs") => string(AuthConfigId::pattern()),
        ("id", "webhook_subscriptions") => string(WebhookSubscriptionId::pattern()),
        ("id", "api_keys") => {
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::Custom("uuid".into())))
        }
        ("id", "webhook_deliveries") => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(i64::MAX)),
        ("status", "auth_configs") => one_of(&["ENABLED", "DISABLED"]),
        ("slug", "toolkits") => string(format!("^{SLUG}$")),
        ("token", "link") => string(format!("^{}[A-Za-z0-9_-]{{32}}$", LinkToken::PREFIX)),
        // `new_redirect_key`: a simple-form UUID.
        ("redirect_key", "oauth") => string("^[0-9a-f]{32}$".into()),
        _ => return None,
    })
}

fn query_parameter(path: &str, name: &str) -> Option<ObjectBuilder> {
    let (path, resource) = resource(path);
    let listing = |p: &str| path == p;
    Some(match name {
        "cursor" if path.ends_with("/{session_id}/toolkits") => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("authlink-offset-cursor".into()))),
        // Accepted and ignored: every item is on the one page.
        "cursor" if path.ends_with("/{session_id}/tools") || listing("/webhook_subscriptions") => return None,
        "cursor" => {
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::Custom("authlink-cursor".into())))
        }
        "order_by" => one_of_or_empty(&["created_at", "updated_at"]),
        "order_direction" => one_of_or_empty(&["asc", "desc"]),
        "account_type" => one_of_or_empty(&["PRIVATE", "SHARED", "ALL"]),
        "managed_by" => one_of_or_empty(&["all", "composio", "project"]),
        "type" if resource == "toolkits" => one_of_or_empty(&["all", "native", "custom"]),
        "sort_by" => one_of_or_empty(&["usage", "alphabetically"]),
        "search" if listing("/toolkits") => ObjectBuilder::new().schema_type(Type::String).max_length(Some(256)),
        "toolkit_slug" => string(format!("^(?: *{SLUG} *)?$")),
        "toolkit_slugs" | "toolkits" => comma_list(SLUG),
        "statuses" => {
            let all: Vec<&str> = AccountStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>();
            comma_list(&all.join("|"))
        }
        "auth_config_ids" => comma_list(&bare(&AuthConfigId::pattern())),
        "connected_account_ids" => comma_list(&bare(&ConnectedAccountId::pattern())),
        _ => return None,
    })
}

/// No string the API takes may hold NUL (`extract`: bodies, queries and paths alike).
const NO_NUL: &str = "^[^\\u0000]*$";

/// Any JSON value without NUL in a string or a key: what an object takes beyond the
/// properties it names (serde ignores unknown fields, but the body is still checked for NUL).
const NUL_FREE_JSON: &str = "NulFreeJson";

fn nul_free_string() -> ObjectBuilder {
    string(NO_NUL.to_owned())
}

fn nul_free_json() -> Schema {
    let any = || RefOr::Ref(openapi::Ref::from_schema_name(NUL_FREE_JSON));
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(nul_free_string())
        .item(ArrayBuilder::new().items(any()))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(any()))
                .property_names(Some(nul_free_string())),
        )
        .description(Some("Any JSON value whose strings and keys hold no NUL"))
        .into()
}

/// Adds [`NO_NUL`] to every string schema that has no pattern, enum or format of its own, and
/// to every object's unnamed properties (keys and values).
fn forbid_nul(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let is = |ty: Type| match &o.schema_type {
                SchemaType::Type(t) => *t == ty,
                SchemaType::Array(ts) => ts.contains(&ty),
                SchemaType::AnyValue => false,
            };
            if is(Type::String) && o.pattern.is_none() && o.enum_values.is_none() && o.format.is_none() {
                o.pattern = Some(NO_NUL.to_owned());
            }
            if is(Type::Object) && o.additional_properties.is_none() {
                o.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::Ref(
                    openapi::Ref::from_schema_name(NUL_FREE_JSON),
                ))));
                o.property_names = Some(Box::new(nul_free_string().build().into()));
            }
            o.properties.values_mut().for_each(forbid_nul);
            if let Some(extra) = o.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(extra) = extra
            {
                forbid_nul(extra);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                forbid_nul(items);
            }
        }
        Schema::OneOf(o) => o.items.iter_mut().for_each(forbid_nul),
        Schema::AllOf(o) => o.items.iter_mut().for_each(forbid_nul),
        Schema::AnyOf(o) => o.items.iter_mut().for_each(forbid_nul),
        _ => {}
    }
}

/// Gives every path and query parameter with a known shape its schema (keeping its description),
/// and every string it takes the NUL rule.
pub fn constrain(doc: &mut openapi::OpenApi) {
    super::openapi_bodies::bodies(doc);
    let components = doc.components.get_or_insert_with(Default::default);
    super::openapi_bodies::refine(components);
    components.schemas.values_mut().for_each(forbid_nul);
    components.schemas.insert(NUL_FREE_JSON.to_owned(), nul_free_json().into());
    for (path, item) in &mut doc.paths.paths {
        for op in super::openapi::operations(item) {
            for parameter in op.parameters.iter_mut().flatten() {
                let schema = match parameter.parameter_in {
                    ParameterIn::Path => path_parameter(path, &parameter.name),
                    ParameterIn::Query => query_parameter(path, &parameter.name),
                    _ => None,
                };
                if let Some(schema) = schema {
                    parameter.schema = Some(Schema::from(schema.build()).into());
                }
                // An empty `limit=` counts as absent (`LenientQuery`), like every other query value.
                // `anyOf`: a `limit` that takes any string (ignored) already admits "".
                if parameter.parameter_in == ParameterIn::Query
                    && parameter.name == "limit"
                    && let Some(limit) = parameter.schema.take()
                {
                    parameter.schema =
                        Some(Schema::from(AnyOfBuilder::new().item(limit).item(one_of(&[""])).build()).into());
                }
                parameter.schema.iter_mut().for_each(forbid_nul);
            }
            if let Some(body) = op.request_body.as_mut() {
                body.content.values_mut().filter_map(|c| c.schema.as_mut()).for_each(forbid_nul);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn parameters() -> Vec<(String, String, Value)> {
        let doc = serde_json::to_value(crate::http::spec()).unwrap();
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    out.push((format!("{method} {path}"), p["name"].as_str().unwrap().to_owned(), p.clone()));
                }
            }
        }
        out
    }

    /// Every path parameter says what it accepts: a pattern, an enum, a format or an integer.
    #[test]
    fn every_path_parameter_is_constrained() {
        let path_params: Vec<_> = parameters().into_iter().filter(|(_, _, p)| p["in"] == "path").collect();
        assert!(path_params.len() > 40, "only {} path parameters", path_params.len());
        for (op, name, p) in path_params {
            let s = &p["schema"];
            let constrained = s.get("pattern").is_some()
                || s.get("enum").is_some()
                || s.get("format").is_some()
                || s["type"] == "integer";
            assert!(constrained, "{op}: {name} is unconstrained: {s}");
        }
    }

    #[test]
    fn query_parameters_carry_the_parsers_rules() {
        let params = parameters();
        let schema = |op: &str, name: &str| {
            params.iter().find(|(o, n, _)| o == op && n == name).map(|(_, _, p)| p["schema"].clone()).unwrap()
        };
        let list = "get /api/v3.1/connected_accounts";
        assert_eq!(schema(list, "order_direction")["enum"], serde_json::json!(["asc", "desc", ""]));
        assert_eq!(schema(list, "cursor")["format"], "authlink-cursor");
        let statuses = regex::Regex::new(schema(list, "statuses")["pattern"].as_str().unwrap()).unwrap();
        for ok in ["ACTIVE", "ACTIVE,FAILED", " ACTIVE , EXPIRED,", ""] {
            assert!(statuses.is_match(ok), "{ok:?}");
        }
        for bad in ["active2", "ACTIVE;FAILED", "DONE"] {
            assert!(!statuses.is_match(bad), "{bad:?}");
        }
        let ids = regex::Regex::new(schema(list, "connected_account_ids")["pattern"].as_str().unwrap()).unwrap();
        assert!(ids.is_match("ca_AAAAAAAAAAAA,ca_BBBBBBBBBBBB"));
        assert!(!ids.is_match("ca_short"));
        let toolkits = "get /api/v3.1/tool_router/session/{session_id}/toolkits";
        assert_eq!(schema(toolkits, "cursor")["format"], "authlink-offset-cursor");
    }
}
