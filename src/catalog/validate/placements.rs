//! The rules of `credential`, the list of places an `API_KEY` / `BEARER_TOKEN` / `BASIC` entry's
//! values go on API calls.
//!
//! Split from `validate.rs` because the placement rules (one per field, no name placed twice,
//! every secret placed) are what providers with several values (Trello, Datadog, Plaid) rely on,
//! and they are tested as a table of their own.

use std::collections::BTreeSet;

use crate::catalog::{CredentialIn, Provider};

/// The rules of `credential`: every placement a header or parameter name with a clean prefix,
/// naming a declared field (each names its `field` when there are several, since "the first
/// secret field" would then be the same field twice), no header or parameter placed twice, and
/// every secret field placed, so no declared secret is silently left off the provider's calls
/// (the bug this list form fixes: Trello's `key`, Datadog's application key).
pub(super) fn check_placements(provider: &Provider) -> Result<(), String> {
    let list = &provider.credential;
    if list.is_empty() || provider.auth_scheme.is_oauth() {
        return Ok(());
    }
    let mut seen = BTreeSet::new();
    for (i, c) in list.iter().enumerate() {
        let at = if list.len() == 1 { "credential".to_owned() } else { format!("credential[{i}]") };
        let token = !c.name.is_empty() && c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !token {
            return Err(format!("{at}.name {:?} must be a header or parameter name", c.name));
        }
        if c.prefix.as_deref().is_some_and(|p| p.chars().any(char::is_control)) {
            return Err(format!("{at}.prefix must not contain control characters"));
        }
        match &c.field {
            None if list.len() > 1 => {
                return Err(format!("{at}.field is required when several placements are listed"));
            }
            Some(field) if provider.field(field).is_none() => {
                return Err(format!("{at}.field {field:?} is not one of the entry's fields"));
            }
            _ => {}
        }
        // Header names are case-insensitive (RFC 9110 §5.1); query parameter names are not.
        let key = match c.location {
            CredentialIn::Header => c.name.to_ascii_lowercase(),
            CredentialIn::Query => c.name.clone(),
        };
        if !seen.insert((c.location.as_str(), key)) {
            return Err(format!("{at}: {} {:?} is placed twice", c.location.as_str(), c.name));
        }
    }
    let placed: BTreeSet<&str> = provider.placements().into_iter().map(|(_, f)| f.name.as_str()).collect();
    if let Some(f) = provider.fields.iter().find(|f| f.secret && !placed.contains(f.name.as_str())) {
        return Err(format!(
            "secret field {:?} is placed by none of the placements: add one for it (credential may be a list)",
            f.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::catalog::tests::{KEYED, catalog, err, slug};
    use crate::catalog::{Catalog, CredentialIn};

    /// `KEYED` with a second secret (`app_key`) and `credential` replaced by `placements`.
    fn two_secrets(placements: &str) -> String {
        KEYED.replace("    credential: {in: header, name: X-Api-Key}\n", placements).replace(
            "        secret: true\n",
            "        secret: true\n      - name: app_key\n        display_name: App key\n        secret: true\n",
        )
    }

    /// The list form places every value, in order, each with its field; the single form keeps
    /// working (and still defaults to the first secret field).
    #[test]
    fn credential_takes_one_placement_or_a_list() {
        let text = two_secrets(
            "    credential:\n      - {in: header, name: X-Api-Key, field: api_key}\n      - {in: query, name: app, prefix: \"k:\", field: app_key}\n",
        );
        let parsed = Catalog::from_yaml(&text).unwrap();
        let keyed = parsed.get(&slug("keyed")).unwrap();
        let placed: Vec<(CredentialIn, &str, Option<&str>, &str)> = keyed
            .placements()
            .into_iter()
            .map(|(c, f)| (c.location, c.name.as_str(), c.prefix.as_deref(), f.name.as_str()))
            .collect();
        assert_eq!(
            placed,
            [(CredentialIn::Header, "X-Api-Key", None, "api_key"), (CredentialIn::Query, "app", Some("k:"), "app_key")]
        );
        assert_eq!(keyed.credential_field().unwrap().name, "api_key");
        let single = Catalog::from_yaml(KEYED).unwrap();
        let placed: Vec<&str> =
            single.get(&slug("keyed")).unwrap().placements().iter().map(|(_, f)| f.name.as_str()).collect();
        assert_eq!(placed, ["api_key"]);

        // The three entries of issue 16 whose second value was placed by nothing.
        let embedded = catalog();
        for (s, expected) in [
            ("trello", &[("query", "key", "api_key"), ("query", "token", "token")]),
            ("datadog", &[("header", "DD-API-KEY", "api_key"), ("header", "DD-APPLICATION-KEY", "application_key")]),
            ("plaid", &[("header", "PLAID-CLIENT-ID", "client_id"), ("header", "PLAID-SECRET", "secret")]),
        ] {
            let p = embedded.get(&slug(s)).unwrap();
            let got: Vec<(&str, &str, &str)> = p
                .placements()
                .into_iter()
                .map(|(c, f)| (c.location.as_str(), c.name.as_str(), f.name.as_str()))
                .collect();
            assert_eq!(got, expected, "{s}");
        }
        assert_eq!(embedded.get(&slug("plaid")).unwrap().credential_field().unwrap().name, "secret");
    }

    /// Table: each rule of the placements refuses the entry naming `credential` and the rule.
    #[test]
    fn refuses_bad_placements() {
        let one =
            |extra: &str| format!("    credential:\n      - {{in: header, name: X-Api-Key, field: api_key}}\n{extra}");
        let cases: [(&str, String, &str); 8] = [
            ("an empty list", "    credential: []\n".into(), "at least one placement"),
            ("a secret left unplaced", one(""), "\"app_key\" is placed by none"),
            (
                "a list entry without its field",
                one("      - {in: query, name: app}\n"),
                "credential[1].field is required",
            ),
            (
                "an undeclared field",
                one("      - {in: query, name: app, field: nope}\n"),
                "credential[1].field \"nope\" is not one of the entry's fields",
            ),
            (
                "the same header twice, in another case",
                one("      - {in: header, name: x-api-key, field: app_key}\n"),
                "placed twice",
            ),
            (
                "a bad header name",
                one("      - {in: header, name: \"X Key\", field: app_key}\n"),
                "header or parameter name",
            ),
            (
                "a control character in a prefix",
                one("      - {in: query, name: app, prefix: \"a\\nb\", field: app_key}\n"),
                "control characters",
            ),
            ("an unknown location", one("      - {in: body, name: app, field: app_key}\n"), "unknown variant `body`"),
        ];
        for (what, placements, rule) in cases {
            let message = err(&two_secrets(&placements));
            assert!(
                message.contains("`keyed`") && message.contains("credential") && message.contains(rule),
                "{what}: {message}"
            );
        }
        // The same query parameter name is fine in a header (and vice versa).
        Catalog::from_yaml(&two_secrets(&one("      - {in: query, name: X-Api-Key, field: app_key}\n"))).unwrap();
    }
}
