//! Tool schemas taken from the OpenAPI document, so a management tool accepts and returns
//! exactly what its REST route does: the route's request body (or query parameters) becomes the
//! `inputSchema`, its success response the `outputSchema`. Components a schema refers to are
//! copied into its `$defs`; `format` and `example` (OpenAPI annotations that JSON Schema
//! validators in clients may reject as unknown) are dropped.

use std::{collections::BTreeSet, sync::OnceLock};

use serde_json::{Map, Value, json};

/// The OpenAPI document as JSON, built once.
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(super::super::spec()).unwrap_or(Value::Null))
}

fn operation(path: &str, method: &str) -> &'static Value {
    &document()["paths"][path][method]
}

/// The JSON body schema of an operation's request, as a self-contained object schema, plus the
/// extra properties a tool takes besides the body (path parameters), which become required.
pub fn request_body(path: &str, method: &str, extra: &[(&str, Value)]) -> Map<String, Value> {
    let schema = &operation(path, method)["requestBody"]["content"]["application/json"]["schema"];
    let mut out = self_contained(schema);
    add_required(&mut out, extra);
    out
}

/// An object schema of an operation's query parameters (all optional), plus `extra`.
pub fn query_parameters(path: &str, method: &str, extra: &[(&str, Value)]) -> Map<String, Value> {
    let mut properties = Map::new();
    for param in operation(path, method)["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "query" {
            continue;
        }
        let Some(name) = param["name"].as_str() else { continue };
        let mut schema = param["schema"].clone();
        strip(&mut schema);
        if let (Some(obj), Some(description)) = (schema.as_object_mut(), param["description"].as_str()) {
            obj.insert("description".into(), description.into());
        }
        properties.insert(name.to_owned(), schema);
    }
    let mut out = Map::new();
    out.insert("type".into(), "object".into());
    out.insert("properties".into(), Value::Object(properties));
    add_required(&mut out, extra);
    out
}

/// An object schema with only the `extra` (required) properties.
pub fn only(extra: &[(&str, Value)]) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".into(), "object".into());
    out.insert("properties".into(), json!({}));
    add_required(&mut out, extra);
    out
}

/// The schema of an operation's response body with `status`.
pub fn response(path: &str, method: &str, status: &str) -> Map<String, Value> {
    self_contained(&operation(path, method)["responses"][status]["content"]["application/json"]["schema"])
}

fn add_required(schema: &mut Map<String, Value>, extra: &[(&str, Value)]) {
    if extra.is_empty() {
        return;
    }
    let properties = schema.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        for (name, value) in extra {
            properties.insert((*name).to_owned(), value.clone());
        }
    }
    let required = schema.entry("required").or_insert_with(|| json!([]));
    if let Some(required) = required.as_array_mut() {
        for (name, _) in extra {
            required.push((*name).into());
        }
    }
}

/// `schema` with its root `$ref` resolved, every component it reaches in `$defs`, refs pointing
/// there, and a root `type: object` (MCP requires tool schemas to be objects).
fn self_contained(schema: &Value) -> Map<String, Value> {
    let components = &document()["components"]["schemas"];
    let mut root = resolve(schema, components).clone();
    let mut names = BTreeSet::new();
    collect_refs(&root, components, &mut names);
    let mut defs = Map::new();
    for name in names {
        let mut def = components[&name].clone();
        rewrite(&mut def);
        defs.insert(name, def);
    }
    rewrite(&mut root);
    let mut out = match root {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    out.entry("type").or_insert_with(|| "object".into());
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    out
}

fn ref_name(value: &Value) -> Option<&str> {
    value.get("$ref")?.as_str()?.strip_prefix("#/components/schemas/")
}

fn resolve<'a>(schema: &'a Value, components: &'a Value) -> &'a Value {
    match ref_name(schema) {
        Some(name) => &components[name],
        None => schema,
    }
}

fn collect_refs(value: &Value, components: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = ref_name(value) {
                if names.insert(name.to_owned()) {
                    collect_refs(&components[name], components, names);
                }
            }
            map.values().for_each(|v| collect_refs(v, components, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, components, names)),
        _ => {}
    }
}

/// Points refs at `$defs` and drops the OpenAPI-only annotations.
fn rewrite(value: &mut Value) {
    strip(value);
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                if let Some(name) = target.strip_prefix("#/components/schemas/") {
                    *target = format!("#/$defs/{name}");
                }
            }
            map.values_mut().for_each(rewrite);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        _ => {}
    }
}

fn strip(value: &mut Value) {
    if let Value::Object(map) = value {
        // Only where they are annotations: a property *named* `format` or `example` stays.
        if map.get("format").is_some_and(Value::is_string) {
            map.remove("format");
        }
        map.remove("example");
    }
}
