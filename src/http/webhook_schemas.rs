//! The document's schemas of the webhook subscription fields: what `service::webhooks` checks,
//! as far as JSON Schema can say it.

use utoipa::openapi::{Array, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, Type};

/// `schema`, or `null` (a PATCH field left as it is).
pub(super) fn nullable(schema: impl Into<Schema>) -> Schema {
    OneOfBuilder::new().item(schema.into()).item(ObjectBuilder::new().schema_type(Type::Null)).build().into()
}
pub(super) fn nullable_webhook_url() -> Schema {
    nullable(webhook_url_schema())
}
pub(super) fn nullable_enabled_events() -> Schema {
    nullable(enabled_events_schema())
}
pub(super) fn nullable_version() -> Schema {
    nullable(version_schema())
}
pub(super) fn nullable_enabled() -> Schema {
    nullable(enabled_schema())
}

/// What `service::webhooks::webhook_url` takes, as far as a pattern can say it: an https URL
/// with a host name, no userinfo and no fragment, at most 2048 characters. (It also refuses a
/// host naming a private or loopback address, which the outbound policy decides.)
pub(super) fn webhook_url_schema() -> Object {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let path = "[A-Za-z0-9._~!$&'()*+,;=:@%/-]";
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(2048))
        .pattern(Some(format!(
            "^https://(?:{label}\\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}(?:/{path}*)?(?:\\?(?:{path}|\\?)*)?$"
        )))
        .build()
}

/// One or more of the event types authlink sends.
pub(super) fn enabled_events_schema() -> Array {
    let names = crate::domain::event::EventType::ALL.map(crate::domain::event::EventType::as_str);
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)))
        .min_items(Some(1))
        .build()
}

pub(super) fn version_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["V3"])).build()
}

pub(super) fn enabled_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])).build()
}
