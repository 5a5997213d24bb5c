//! The hosted form (issue 15 must-have 3): a link whose toolkit is `API_KEY`, `BEARER_TOKEN` or
//! `BASIC`, or `OAUTH2` with connection fields (a tenant `subdomain`), shows a form instead of the
//! bare Continue button. Its POST (`POST /link/{token}/fields`) checks the values against the
//! catalog's [`FieldSpec`]s ([`validate_fields`]) and then either
//!
//! - stores the credential, sealed, and makes the account ACTIVE in the link's own transaction
//!   (`LinkStore::complete_link`, single use and race-safe: of two concurrent posts one wins,
//!   the other finds the link used), ending exactly as an OAuth completion does (the callback
//!   with `status=success&connected_account_id=…`, or the user-bound verifier), or
//! - for OAuth, fills the templated endpoints with the values (each URL re-checked to stay on
//!   its host) and continues to the provider's authorization URL as `POST …/continue` does.
//!
//! Values are never logged; errors name the field and the rule, never a value.

use std::collections::BTreeMap;

use url::Url;

use chrono::Utc;

use super::connect::{Outcome, Stop, find_link, usability};
use crate::{
    catalog::{AuthScheme, FieldError, FieldRule, FieldSpec, Provider, ValidatedFields, validate_fields},
    service::context::ServiceContext,
    store::LinkView,
};

/// One input of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    pub name: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub secret: bool,
}

impl From<&FieldSpec> for FormField {
    fn from(f: &FieldSpec) -> Self {
        Self {
            name: f.name.clone(),
            label: f.display_name.clone(),
            help: f.description.clone(),
            required: f.required,
            secret: f.secret,
        }
    }
}

/// What the form page of a usable link shows.
#[derive(Debug, Clone)]
pub struct FormView {
    /// The link's project, whose branding the form shows.
    pub project: crate::store::ProjectId,
    pub provider: String,
    pub toolkit: String,
    pub scheme: AuthScheme,
    pub fields: Vec<FormField>,
    /// Host (and port) of the app's callback URL.
    pub return_host: Option<String>,
    /// CSP `form-action` sources the POST's redirects may reach: the app's callback origin and,
    /// for OAuth, the provider's authorization origin (`https://*.zendesk.com` when its host is
    /// templated, since the value is not known before the user types it).
    pub form_targets: Vec<String>,
}

/// How a POST of the form ended.
#[derive(Debug)]
pub enum Submitted {
    /// To the app's callback (or the verifier, or the provider's authorization URL), or done.
    Outcome(Outcome),
    /// Back to the form: the errors, and the non-secret values to show again.
    Invalid { view: FormView, errors: Vec<FieldError>, kept: BTreeMap<String, String> },
}

/// The link's provider and whether it takes a form.
fn form_provider<'a>(ctx: &'a ServiceContext, link: &LinkView) -> Option<&'a Provider> {
    let provider = ctx.catalog.get(&link.auth_config.toolkit)?;
    let scheme = scheme_of(link, provider);
    // OAUTH1 entries take no fields: their page is the bare Continue button.
    (scheme.is_typed_in() || (scheme.is_oauth() && !provider.fields.is_empty())).then_some(provider)
}

/// The auth config's scheme, else the catalog entry's.
fn scheme_of(link: &LinkView, provider: &Provider) -> AuthScheme {
    AuthScheme::parse(&link.auth_config.auth_scheme).unwrap_or(provider.auth_scheme)
}

/// The link was used (or ran out) between the page and this step.
pub(super) fn spent(link: &LinkView) -> Stop {
    if link.expires_at <= Utc::now() { Stop::LinkExpired } else { Stop::LinkUsed }
}

/// Host (and port) of the app's callback URL, and its origin.
fn link_origins(link: &LinkView) -> (Option<String>, Option<String>) {
    let Some(callback) = link.callback_url.as_deref().and_then(|u| Url::parse(u).ok()) else { return (None, None) };
    let host = callback.host_str().map(|h| match callback.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.to_owned(),
    });
    (host, Some(callback.origin().ascii_serialization()))
}

fn view(ctx: &ServiceContext, link: &LinkView, provider: &Provider) -> FormView {
    let scheme = scheme_of(link, provider);
    let (return_host, callback_origin) = link_origins(link);
    let mut form_targets: Vec<String> = Vec::new();
    if scheme.is_oauth() {
        let authorization = link
            .auth_config
            .authorization_url
            .clone()
            .or_else(|| provider.oauth().map(|o| o.authorization_url.clone()));
        form_targets.extend(authorization.as_deref().and_then(form_source));
    }
    form_targets.extend(callback_origin);
    let _ = ctx;
    FormView {
        project: link.project,
        provider: provider.name.clone(),
        toolkit: link.auth_config.toolkit.to_string(),
        scheme,
        fields: provider.fields.iter().map(FormField::from).collect(),
        return_host,
        form_targets,
    }
}

/// The CSP source of a (possibly templated) URL's origin: `scheme://host[:port]`, with the
/// templated part of the host as a `*.` wildcard over the fixed domain after it
/// (`https://{subdomain}.zendesk.com/…` → `https://*.zendesk.com`). `None` when no such source
/// can be written (a template in the host with no fixed domain after it).
pub fn form_source(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if !authority.contains('{') {
        let filled = template.replace(['{', '}'], "");
        return Url::parse(&filled).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null");
    }
    let after = &authority[authority.rfind('}')? + 1..];
    let (host_rest, port) = match after.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => (h, Some(p)),
        _ => (after, None),
    };
    let domain = &host_rest[host_rest.find('.')? + 1..];
    let valid_label = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !domain.split('.').all(valid_label) {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    Some(match port {
        Some(p) => format!("{scheme}://*.{domain}:{p}"),
        None => format!("{scheme}://*.{domain}"),
    })
}

/// `GET /link/{token}` for a form link: `Ok(None)` when the link's toolkit takes no form (plain
/// OAuth: the Continue page).
#[tracing::instrument(name = "connect_form::page", skip_all)]
pub async fn form_page(ctx: &ServiceContext, token: &str) -> Result<Option<FormView>, Stop> {
    let Some(link) = find_link(ctx, token).await? else { return Err(Stop::LinkNotFound) };
    usability(&link)?;
    Ok(form_provider(ctx, &link).map(|p| view(ctx, &link, p)))
}

/// Collects the posted pairs per field; a name sent twice is an error of that field.
fn collect(pairs: Vec<(String, String)>) -> (BTreeMap<String, String>, Vec<FieldError>) {
    let mut values = BTreeMap::new();
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, value) in pairs {
        match values.entry(name) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
            std::collections::btree_map::Entry::Occupied(taken) => {
                let field = shown(taken.key());
                if !errors.iter().any(|e| e.field == field) {
                    errors.push(FieldError::new(&field, FieldRule::Duplicate, "was sent more than once"));
                }
            }
        }
    }
    (values, errors)
}

fn shown(name: &str) -> String {
    let clean: String = name.chars().filter(char::is_ascii_graphic).take(64).collect();
    if clean.is_empty() { "(unnamed)".to_owned() } else { clean }
}

/// `POST /link/{token}/fields` (the HTTP layer has checked the binding cookie).
#[tracing::instrument(name = "connect_form::submit", skip_all)]
pub async fn submit(
    ctx: &ServiceContext,
    token: &str,
    binding: &str,
    pairs: Vec<(String, String)>,
) -> Result<Submitted, Stop> {
    let Some(link) = find_link(ctx, token).await? else { return Err(Stop::LinkNotFound) };
    usability(&link)?;
    let Some(provider) = form_provider(ctx, &link) else {
        return Err(Stop::CannotStart(
            "This connection takes no details: open the link again and press Continue.".into(),
        ));
    };
    let (submitted, mut errors) = collect(pairs);
    let validated = match validate_fields(provider, &submitted) {
        Ok(v) if errors.is_empty() => Some(v),
        Ok(_) => None,
        Err(mut e) => {
            e.append(&mut errors);
            errors = e;
            None
        }
    };
    let Some(validated) = validated else { return Ok(invalid(ctx, &link, provider, &submitted, errors)) };
    let outcome = if scheme_of(&link, provider).is_oauth() {
        oauth_start(ctx, &link, provider, &validated, binding).await
    } else {
        complete(ctx, &link, provider, &validated).await
    };
    match outcome {
        Ok(o) => Ok(Submitted::Outcome(o)),
        Err(FormError::Stop(stop)) => Err(stop),
        Err(FormError::Fields(errors)) => Ok(invalid(ctx, &link, provider, &submitted, errors)),
    }
}

/// OAuth with fields: the values fill the templated endpoints (each URL re-checked to stay on
/// its host), are sealed onto the account for the code exchange and every refresh, and the user
/// goes on to the provider's sign-in exactly as with Continue (`connect::start_with`).
async fn oauth_start(
    ctx: &ServiceContext,
    link: &LinkView,
    _provider: &Provider,
    validated: &ValidatedFields,
    binding: &str,
) -> Result<Outcome, FormError> {
    super::oauth_fields::start_form(ctx, link, validated.values(), binding).await
}

/// Why a valid submission still did not go through.
#[derive(Debug)]
pub enum FormError {
    Stop(Stop),
    /// A check after [`validate_fields`] (a templated URL of the auth config) refused a value.
    Fields(Vec<FieldError>),
}

impl From<Stop> for FormError {
    fn from(stop: Stop) -> Self {
        Self::Stop(stop)
    }
}

impl From<crate::store::StoreError> for FormError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Stop(e.into())
    }
}

fn invalid(
    ctx: &ServiceContext,
    link: &LinkView,
    provider: &Provider,
    submitted: &BTreeMap<String, String>,
    errors: Vec<FieldError>,
) -> Submitted {
    tracing::info!(
        connected_account_id = %link.account.id,
        fields = ?errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        "form refused"
    );
    // Only the entry's own non-secret fields are shown again; secrets never are.
    let kept = provider
        .fields
        .iter()
        .filter(|f| !f.secret)
        .filter_map(|f| {
            let v = submitted.get(&f.name)?;
            Some((
                f.name.clone(),
                v.chars().filter(|c| !c.is_control()).take(crate::catalog::fields::MAX_VALUE_LEN).collect(),
            ))
        })
        .collect();
    Submitted::Invalid { view: view(ctx, link, provider), errors, kept }
}

/// `API_KEY` / `BEARER_TOKEN` / `BASIC`: the sealed credential on the account, ACTIVE, the link spent.
async fn complete(
    ctx: &ServiceContext,
    link: &LinkView,
    provider: &Provider,
    validated: &ValidatedFields,
) -> Result<Outcome, FormError> {
    let sealed = seal_credentials(ctx, link, validated);
    let gone = || spent(link);
    if link.reconnect {
        return match ctx
            .store
            .complete_reconnect(link.project, &link.account.id, &link.token_hash, &sealed, None)
            .await?
        {
            crate::store::Reconnected::Done(_) => {
                tracing::info!(connected_account_id = %link.account.id, "account reconnected with new credentials");
                Ok(super::connect::finish(link, "success", None, provider.name.clone()))
            }
            crate::store::Reconnected::Gone => Err(gone().into()),
        };
    }
    match super::completion::verifier(ctx, link.project).await {
        Ok(Some(verifier)) => {
            return match super::completion::defer(ctx, link, &verifier, sealed, None).await? {
                Some(url) => {
                    crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "pending_verification");
                    Ok(Outcome::Redirect(url))
                }
                None => Err(gone().into()),
            };
        }
        Ok(None) => {}
        Err(super::completion::VerifierError::Store(e)) => return Err(e.into()),
        Err(super::completion::VerifierError::NotAllowed(why)) => {
            tracing::warn!(connected_account_id = %link.account.id, "the project's verifier URL {why}");
            let reason = format!("The project's verifier URL {why}");
            return super::connect::fail(ctx, link, "verifier_not_allowed", &reason).await.map_err(FormError::Stop);
        }
    }
    if !ctx.store.complete_link(link.project, &link.account.id, &link.token_hash, &sealed, None).await? {
        return Err(gone().into());
    }
    tracing::info!(connected_account_id = %link.account.id, "account connected");
    crate::telemetry::link_completed(link.auth_config.toolkit.as_str(), "active");
    Ok(super::connect::finish(link, "success", None, provider.name.clone()))
}

/// The submitted credential sealed for the account (into `tokens_sealed`, with the account id as
/// associated data), in the shape the account's read path opens: `{"fields": {name: value}}`, as
/// `service::credentials` seals the values of accounts created through the API.
#[expect(clippy::expect_used, reason = "a map of strings always serializes")]
fn seal_credentials(ctx: &ServiceContext, link: &LinkView, validated: &ValidatedFields) -> String {
    let json = serde_json::to_vec(&serde_json::json!({ "fields": validated.values() })).expect("string maps serialize");
    ctx.sealer.seal(link.account.id.as_str(), &json)
}

#[cfg(test)]
mod tests {
    use super::{collect, form_source};

    #[test]
    fn form_sources_of_templates() {
        let cases = [
            ("https://{subdomain}.zendesk.com/oauth/authorizations/new", Some("https://*.zendesk.com")),
            ("https://{subdomain}-api.Example.com:8443/x", Some("https://*.example.com:8443")),
            ("http://{subdomain}.localhost:4000/auth", Some("http://*.localhost:4000")),
            ("https://login.example.com/{tenant}/authorize", Some("https://login.example.com")),
            ("https://idp.example/auth", Some("https://idp.example")),
            ("https://{host}/auth", None),
            ("https://{a}.com;script-src/x", None),
            ("https://{a}.ex ample.com/x", None),
            ("javascript://{a}.example.com/", None),
            ("not a url", None),
        ];
        for (template, want) in cases {
            assert_eq!(form_source(template).as_deref(), want, "{template}");
        }
    }

    #[test]
    fn a_field_sent_twice_is_an_error_of_that_field() {
        let pairs = [("a", "1"), ("b", "2"), ("a", "3"), ("a", "4")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let (values, errors) = collect(pairs.to_vec());
        assert_eq!(values.get("a").map(String::as_str), Some("1"));
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].field.as_str(), errors[0].message.as_str()), ("a", "was sent more than once"));
    }
}
