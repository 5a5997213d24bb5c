//! Webhook subscriptions (Composio's `webhook_subscriptions` API) and the rules their fields
//! follow. Deliveries are in [`delivery`]; the events themselves are written by the stores in
//! the transaction of each state change (the outbox, see `store/postgres/events.rs`).
//!
//! The signing secret is sealed (it must be read back to sign) with the subscription id as
//! associated data. Rotating it keeps the previous one valid for [`ROTATION_OVERLAP`]: deliveries
//! then carry both signatures, so a receiver can switch secrets without losing a delivery.

pub mod delivery;
pub mod signing;

use chrono::{Duration, Utc};
use rand::RngCore;
use url::Url;

use crate::{
    domain::{EventType, WebhookSubscriptionId},
    error::{ApiError, ApiResult, FieldError},
    outbound::OutboundPolicy,
    service::context::ServiceContext,
    store::{NewSubscription, ProjectId, SubscriptionPatch, SubscriptionRecord},
};

/// How long the secret before a rotation still signs deliveries.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// Subscriptions a project may have.
pub const MAX_SUBSCRIPTIONS: i64 = 20;

/// The payload version authlink sends: Composio's V3 envelope `{id, timestamp, type, metadata, data}`.
pub const VERSION: &str = "V3";

/// A new signing secret: 256 random bits as 64 hex characters. The HMAC key is the secret's
/// UTF-8 bytes, as Composio's `verify_webhook` uses it (with the `standardwebhooks` package:
/// `Webhook(secret.encode())`).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `webhook_url`: an absolute https URL without userinfo or fragment, at most 2048 characters;
/// plain http only to a loopback host (development). As for provider endpoints, a URL that names
/// a loopback, private, link-local or metadata address (or `localhost`) is refused unless
/// `AUTHLINK_ENDPOINT_ALLOWLIST` names its origin; delivery re-checks the resolved addresses.
pub fn webhook_url(raw: &str, policy: &OutboundPolicy) -> Result<String, String> {
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let url = Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("must have a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && policy.is_allowlisted(&url) => {}
        "http" if loopback => {
            return Err("may be plain http only for a loopback receiver whose origin AUTHLINK_ENDPOINT_ALLOWLIST \
                        names (development)"
                .into());
        }
        "http" => return Err("must be https (plain http only to a loopback host, for development)".into()),
        _ => return Err("must be an https URL".into()),
    }
    policy.check_url_as_written(&url).map_err(|e| e.to_string())?;
    Ok(url.into())
}

/// `enabled_events`: one or more of [`EventType::ALL`]'s names, duplicates dropped.
pub fn enabled_events(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Err("must name at least one event type (GET webhook_subscriptions/event_types lists them)".into());
    }
    let mut out: Vec<String> = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let Some(event) = EventType::parse(name) else {
            return Err(format!(
                "[{i}] `{}` is not an event type authlink sends (GET webhook_subscriptions/event_types lists them)",
                name.chars().take(80).collect::<String>()
            ));
        };
        if !out.iter().any(|e| e == event.as_str()) {
            out.push(event.as_str().to_owned());
        }
    }
    Ok(out)
}

/// `version`: only V3 (the envelope Composio's SDK parses for platform events).
pub fn version(raw: Option<&str>) -> Result<String, String> {
    match raw {
        None | Some("V3") => Ok(VERSION.to_owned()),
        Some("V1" | "V2") => Err("only V3 is supported: authlink sends Composio's V3 envelope".into()),
        Some(_) => Err("must be V3".into()),
    }
}

/// The secret of a subscription, opened.
pub fn secret(ctx: &ServiceContext, sub: &SubscriptionRecord) -> ApiResult<String> {
    open(ctx, sub, &sub.secret_sealed)
}

fn open(ctx: &ServiceContext, sub: &SubscriptionRecord, sealed: &str) -> ApiResult<String> {
    let bytes = ctx.sealer.open(sub.id.as_str(), sealed).map_err(ApiError::internal)?;
    String::from_utf8(bytes).map_err(ApiError::internal)
}

/// What a create or update asks for, checked field by field.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    pub webhook_url: Option<&'a str>,
    pub enabled_events: Option<&'a [String]>,
    pub version: Option<&'a str>,
}

struct Checked {
    webhook_url: Option<String>,
    enabled_events: Option<Vec<String>>,
    version: String,
}

fn check(ctx: &ServiceContext, fields: &Fields<'_>) -> ApiResult<Checked> {
    let mut errors = Vec::new();
    let policy = &ctx.settings.outbound;
    let webhook_url = fields.webhook_url.map(|u| webhook_url(u, policy)).transpose().unwrap_or_else(|e| {
        errors.push(FieldError::new("webhook_url", e));
        None
    });
    let enabled_events = fields.enabled_events.map(enabled_events).transpose().unwrap_or_else(|e| {
        errors.push(FieldError::new("enabled_events", e));
        None
    });
    let version = version(fields.version).unwrap_or_else(|e| {
        errors.push(FieldError::new("version", e));
        String::new()
    });
    if errors.is_empty() {
        Ok(Checked { webhook_url, enabled_events, version })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Creates a subscription; returns it with its secret.
pub async fn create(ctx: &ServiceContext, project: ProjectId, fields: &Fields<'_>) -> ApiResult<SubscriptionRecord> {
    let mut missing = Vec::new();
    if fields.webhook_url.is_none() {
        missing.push(FieldError::new("webhook_url", "is required"));
    }
    if fields.enabled_events.is_none() {
        missing.push(FieldError::new("enabled_events", "is required"));
    }
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let checked = check(ctx, fields)?;
    if ctx.store.count_subscriptions(project).await? >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::BadRequest(format!(
            "A project may have at most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first."
        )));
    }
    let id = WebhookSubscriptionId::generate();
    let secret = new_secret();
    let new = NewSubscription {
        secret_sealed: ctx.sealer.seal(id.as_str(), secret.as_bytes()),
        id,
        webhook_url: checked.webhook_url.unwrap_or_default(),
        version: checked.version,
        enabled_events: checked.enabled_events.unwrap_or_default(),
    };
    Ok(ctx.store.insert_subscription(project, &new).await?)
}

/// Applies a PATCH; `enable` re-enables a subscription disabled after failing for the horizon.
pub async fn update(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &WebhookSubscriptionId,
    fields: &Fields<'_>,
    enable: bool,
) -> ApiResult<SubscriptionRecord> {
    let checked = check(ctx, fields)?;
    let patch = SubscriptionPatch {
        webhook_url: checked.webhook_url,
        version: fields.version.map(|_| checked.version),
        enabled_events: checked.enabled_events,
        enable,
    };
    ctx.store
        .update_subscription(project, id, &patch)
        .await?
        .ok_or_else(|| ApiError::WebhookSubscriptionNotFound(id.to_string()))
}

/// A new secret; the current one keeps signing (as a second signature) for [`ROTATION_OVERLAP`].
pub async fn rotate(
    ctx: &ServiceContext,
    project: ProjectId,
    id: &WebhookSubscriptionId,
) -> ApiResult<(SubscriptionRecord, String)> {
    let secret = new_secret();
    let sealed = ctx.sealer.seal(id.as_str(), secret.as_bytes());
    let record = ctx
        .store
        .rotate_subscription_secret(project, id, &sealed, Utc::now() + ROTATION_OVERLAP)
        .await?
        .ok_or_else(|| ApiError::WebhookSubscriptionNotFound(id.to_string()))?;
    Ok((record, secret))
}

/// The secrets deliveries are signed with now: the current one, and the previous one during a
/// rotation's overlap.
pub fn signing_secrets(ctx: &ServiceContext, sub: &SubscriptionRecord) -> ApiResult<Vec<String>> {
    let mut secrets = vec![secret(ctx, sub)?];
    if let (Some(prev), Some(until)) = (&sub.previous_secret_sealed, sub.previous_secret_until) {
        if until > Utc::now() {
            secrets.push(open(ctx, sub, prev)?);
        }
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_or_loopback_http() {
        let loopbacks = "http://127.0.0.1:9000,http://localhost,http://[::1]:8";
        let policy = OutboundPolicy::new(loopbacks.parse().unwrap(), false);
        let none = OutboundPolicy::default();
        assert!(webhook_url("https://hooks.example.com/x?y=1", &none).is_ok());
        for ok in ["http://127.0.0.1:9000/hook", "http://localhost/h", "http://[::1]:8/"] {
            assert!(webhook_url(ok, &policy).is_ok(), "{ok}");
            assert!(webhook_url(ok, &none).unwrap_err().contains("AUTHLINK_ENDPOINT_ALLOWLIST"), "{ok}");
        }
        for (bad, why) in [
            ("https://127.0.0.1/x", "loopback"),
            ("https://10.0.0.1/x", "private"),
            ("https://169.254.169.254/latest", "link-local"),
            ("https://localhost/x", "localhost"),
            ("https://metadata.google.internal/x", "metadata"),
            ("http://hooks.example.com/x", "must be https"),
            ("http://10.0.0.1/x", "must be https"),
            ("ftp://example.com/", "https URL"),
            ("https://u:p@example.com/", "credentials"),
            ("https://example.com/#f", "fragment"),
            ("/relative", "absolute"),
            ("", "absolute"),
        ] {
            let err = webhook_url(bad, &none).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(webhook_url(&format!("https://e.com/{}", "a".repeat(2048)), &none).unwrap_err().contains("2048"));
    }

    #[test]
    fn event_lists_name_known_types() {
        let all: Vec<String> = EventType::ALL.iter().map(|e| e.as_str().to_owned()).collect();
        assert_eq!(enabled_events(&all).unwrap(), all);
        let twice = vec![all[0].clone(), all[0].clone()];
        assert_eq!(enabled_events(&twice).unwrap().len(), 1);
        assert!(enabled_events(&[]).unwrap_err().contains("at least one"));
        let err = enabled_events(&[all[0].clone(), "composio.trigger.message".into()]).unwrap_err();
        assert!(err.starts_with("[1]"), "{err}");
    }

    #[test]
    fn only_v3_payloads() {
        assert_eq!(version(None).unwrap(), "V3");
        assert_eq!(version(Some("V3")).unwrap(), "V3");
        assert!(version(Some("V2")).unwrap_err().contains("only V3"));
        assert!(version(Some("v9")).is_err());
    }

    #[test]
    fn secrets_are_256_bit_hex() {
        let a = new_secret();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_secret());
    }
}
