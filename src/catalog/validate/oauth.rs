//! The OAuth rules of an entry: the endpoints of an `OAUTH1` entry, and everything an `OAUTH2`
//! entry declares beyond its URLs (PKCE and its reason, scopes, extra authorization parameters,
//! quirks, a renamed client id).
//!
//! Split from `validate.rs` because these rules guard what the OAuth clients send to providers,
//! and they change whenever a provider needs a new OAuth fact; the checks common to every entry
//! stay in `validate.rs`.

use std::collections::BTreeSet;

use super::{check_url, is_identifier};
use crate::catalog::oauth2::RESERVED_AUTHORIZATION_PARAMS;
use crate::catalog::{CatalogErrorKind, OAuthFacts, Provider};

/// The OAuth checks of `provider` (none for an entry of another scheme); `declared` are its field
/// names, which URL placeholders may use.
pub(super) fn check(provider: &Provider, declared: &BTreeSet<&str>) -> Result<(), CatalogErrorKind> {
    let slug = &provider.slug;
    let invalid =
        |field: &'static str, reason: String| CatalogErrorKind::InvalidField { slug: slug.clone(), field, reason };
    let url_err = |field: &'static str, url: &String| {
        let slug = slug.clone();
        let url = url.clone();
        move |reason| CatalogErrorKind::InvalidUrl { slug, field, url, reason }
    };
    if let Some(o) = &provider.oauth1 {
        if !provider.credential.is_empty() {
            return Err(invalid("credential", "is not allowed on OAUTH1 entries (the credential is the token)".into()));
        }
        for (field, url) in [
            ("oauth1.request_token_url", &o.request_token_url),
            ("oauth1.authorize_url", &o.authorize_url),
            ("oauth1.access_token_url", &o.access_token_url),
        ] {
            check_url(url, declared).map_err(url_err(field, url))?;
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
        check_url(url, declared).map_err(url_err(field, url))?;
    }
    if let Some(url) = &o.revocation_url {
        check_url(url, declared).map_err(url_err("revocation_url", url))?;
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

#[cfg(test)]
mod tests {
    use crate::catalog::tests::{KEYED, VALID, catalog, err, slug};
    use crate::catalog::{Catalog, Provider, Quirk};

    #[test]
    fn rejects_empty_scope_separator() {
        let message = err(&VALID.replace("scope_separator: \" \"", "scope_separator: \"\""));
        assert!(message.contains("`acme`") && message.contains("`scope_separator`"), "{message}");
    }

    #[test]
    fn rejects_scopes_containing_the_separator() {
        let message = err(&VALID.replace("[read]", "[\"read write\"]"));
        assert!(message.contains("`acme`") && message.contains("`default_scopes`"), "{message}");
    }

    /// Design §5: PKCE on every provider that accepts it. The embedded catalog turns it off for
    /// exactly the providers whose documentation says they cannot take it from a confidential
    /// web client, each with its reason.
    #[test]
    fn pkce_is_off_only_with_a_reason() {
        let off: Vec<(String, String)> = catalog()
            .iter()
            .filter(|p| p.oauth().is_some_and(|o| !o.pkce))
            .map(|p| (p.slug.to_string(), p.oauth().unwrap().pkce_off_reason.clone().unwrap_or_default()))
            .collect();
        let slugs: Vec<&str> = off.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            slugs,
            ["linkedin", "slack", "slackbot", "tiktok"],
            "PKCE off elsewhere than the documented exceptions"
        );
        for (slug, reason) in &off {
            assert!(reason.len() >= 40, "{slug}: pkce_off_reason too thin: {reason:?}");
        }
        assert!(catalog().iter().filter_map(Provider::oauth).filter(|o| o.pkce).all(|o| o.pkce_off_reason.is_none()));

        let off = VALID.replace("pkce: true", "pkce: false");
        let message = err(&off);
        assert!(message.contains("`acme`") && message.contains("`pkce_off_reason`"), "{message}");
        let message = err(&off.replace("pkce: false", "pkce: false\n    pkce_off_reason: \"  \""));
        assert!(message.contains("`pkce_off_reason`") && message.contains("required"), "{message}");
        let with_reason = off.replace("pkce: false", "pkce: false\n    pkce_off_reason: the provider rejects it");
        let catalog = Catalog::from_yaml(&with_reason).unwrap();
        assert_eq!(
            catalog.get(&slug("acme")).unwrap().oauth().unwrap().pkce_off_reason.as_deref(),
            Some("the provider rejects it")
        );
        let message = err(&VALID.replace("pkce: true", "pkce: true\n    pkce_off_reason: not needed"));
        assert!(message.contains("`pkce_off_reason`") && message.contains("only allowed"), "{message}");
    }

    #[test]
    fn rejects_reserved_authorization_params() {
        let message = err(&format!("{VALID}    extra_authorization_params: {{redirect_uri: https://evil.example}}\n"));
        assert!(message.contains("`acme`") && message.contains("`extra_authorization_params`"), "{message}");
        assert!(message.contains("redirect_uri"), "{message}");
    }

    #[test]
    fn quirks_are_known_names() {
        let declared = Catalog::from_yaml(&format!(
            "{VALID}    quirks: [token_response_form, non_expiring_tokens]\n    token_response_nested: authed_user\n"
        ))
        .unwrap();
        let acme = declared.get(&slug("acme")).unwrap().oauth().unwrap();
        assert_eq!(acme.quirks, [Quirk::TokenResponseForm, Quirk::NonExpiringTokens]);
        assert_eq!(acme.token_response_nested.as_deref(), Some("authed_user"));
        assert!(Catalog::from_yaml(VALID).unwrap().get(&slug("acme")).unwrap().oauth().unwrap().quirks.is_empty());

        let error = Catalog::from_yaml(&format!("{VALID}    quirks: [token_response_xml]\n")).unwrap_err();
        assert_eq!(error.line, Some(12), "{error}");
        let message = error.to_string();
        assert!(message.contains("`quirks[0]`") && message.contains("token_response_xml"), "{message}");
        let message = err(&format!("{VALID}    quirks: [non_expiring_tokens, non_expiring_tokens]\n"));
        assert!(message.contains("`quirks`") && message.contains("twice"), "{message}");
        let message = err(&format!("{VALID}    token_response_nested: \"authed user\"\n"));
        assert!(message.contains("`token_response_nested`"), "{message}");
        assert_eq!(
            catalog().get(&slug("slack")).unwrap().oauth().unwrap().token_response_nested.as_deref(),
            Some("authed_user")
        );
    }

    /// Table: `client_id_param` takes a plain, unused parameter name on OAUTH2 entries only.
    #[test]
    fn client_id_param_is_validated() {
        let parsed = Catalog::from_yaml(&format!("{VALID}    client_id_param: client_key\n")).unwrap();
        assert_eq!(parsed.get(&slug("acme")).unwrap().oauth().unwrap().client_id_param(), "client_key");
        let cases = [
            ("    client_id_param: client_id\n", "is the default"),
            ("    client_id_param: Client-Key\n", "[a-z]"),
            ("    client_id_param: redirect_uri\n", "authlink sends for itself"),
            ("    client_id_param: client_secret\n", "authlink sends for itself"),
            ("    client_id_param: grant_type\n", "authlink sends for itself"),
            (
                "    client_id_param: app\n    extra_authorization_params: {app: x}\n",
                "also in extra_authorization_params",
            ),
        ];
        for (extra, rule) in cases {
            let message = err(&format!("{VALID}{extra}"));
            assert!(message.contains("`client_id_param`") && message.contains(rule), "{extra}: {message}");
        }
        let message =
            err(&KEYED.replace("    auth_scheme: API_KEY\n", "    auth_scheme: API_KEY\n    client_id_param: k\n"));
        assert!(message.contains("`client_id_param`") && message.contains("OAuth 2.0 key"), "{message}");
    }
}
