//! Connection fields: what a catalog entry asks per connection (an API key, a username and
//! password, a tenant `subdomain`), how a submitted value is checked against its [`FieldSpec`], and
//! how `{field}` templates in provider URLs are filled in without ever moving the URL to another
//! host ([`expand_template`]).
//!
//! [`validate_fields`] is the one entry point for submitted values, whether they come from the API
//! (`POST connected_accounts`, `PATCH connected_accounts/{id}`) or from the hosted form: it refuses
//! unknown fields, missing required ones, oversize values, control characters and values that do
//! not match the field's pattern, and fills every template of the entry to prove the values keep
//! each URL on its host. Its errors name the field and the rule and never echo a value.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{LazyLock, Mutex, PoisonError},
};

use serde::Deserialize;
use url::Url;

use super::Provider;
pub use super::field_error::{FieldError, FieldRule};

/// The longest value a secret field takes (long enough for JWT-shaped tokens).
pub const MAX_SECRET_LEN: usize = 8192;
/// The longest value a non-secret field takes.
pub const MAX_VALUE_LEN: usize = 512;
/// The longest value substituted into a URL template (a DNS label is at most 63 bytes).
pub const MAX_TEMPLATE_VALUE_LEN: usize = 63;

/// One per-connection field of a catalog entry (`fields:` in `catalog/toolkits.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// `[a-z][a-z0-9_]*`, unique in the entry, as Composio names it (`api_key`, `subdomain`, ...).
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub required: bool,
    /// Password input on the form, sealed at rest, never echoed in an error.
    #[serde(default)]
    pub secret: bool,
    /// A regex every value must match, implicitly anchored (`^(?:pattern)$`).
    #[serde(default)]
    pub pattern: Option<String>,
}

fn yes() -> bool {
    true
}

impl FieldSpec {
    /// The compiled, anchored pattern (`None` when the field has none or it does not compile;
    /// the catalog validator refuses a pattern that does not parse). Compiled once per pattern
    /// and process, on first use: compiling costs far more than matching.
    pub fn regex(&self) -> Option<regex::Regex> {
        static COMPILED: LazyLock<Mutex<HashMap<String, Option<regex::Regex>>>> = LazyLock::new(Default::default);
        let pattern = self.pattern.as_deref()?;
        let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
        compiled
            .entry(pattern.to_owned())
            .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok())
            .clone()
    }

    /// Checks one value against the field's rules; the message never contains the value.
    pub fn check(&self, value: &str) -> Result<(), FieldError> {
        let err = |rule: FieldRule, message: String| Err(FieldError::new(&self.name, rule, message));
        let max = if self.secret { MAX_SECRET_LEN } else { MAX_VALUE_LEN };
        if value.is_empty() {
            return err(FieldRule::Required, "must not be empty".into());
        }
        if value.len() > max {
            return err(FieldRule::TooLong { max }, format!("is longer than {max} bytes"));
        }
        if value.chars().any(char::is_control) {
            return err(FieldRule::Control, "must not contain control characters".into());
        }
        if value.trim() != value {
            return err(FieldRule::Whitespace, "must not start or end with whitespace".into());
        }
        if let Some(pattern) = &self.pattern {
            let matches = self.regex().is_some_and(|re| re.is_match(value));
            if !matches {
                return err(FieldRule::Pattern, format!("does not match the pattern {pattern}"));
            }
        }
        Ok(())
    }
}

/// Submitted values that passed [`validate_fields`]: every required field present, every value
/// valid, every template of the entry filled in on its own host. `Debug` hides secret values.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidatedFields {
    values: BTreeMap<String, String>,
    secret: Vec<String>,
}

impl std::fmt::Debug for ValidatedFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.values {
            if self.secret.contains(name) {
                map.entry(name, &"<secret>");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl ValidatedFields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every value, by field name.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn into_values(self) -> BTreeMap<String, String> {
        self.values
    }

    /// Whether `name` is a secret field of the entry.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret.iter().any(|s| s == name)
    }

    /// The non-secret values (what may be shown back, e.g. a `subdomain`).
    pub fn public_values(&self) -> BTreeMap<String, String> {
        self.values.iter().filter(|(k, _)| !self.is_secret(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Checks submitted connection values against `provider`'s fields: unknown names, missing
/// required fields, each value's rules ([`FieldSpec::check`]) and every URL template of the entry
/// (base URL and OAuth endpoints). All errors are returned, one per field, in field order.
pub fn validate_fields(
    provider: &Provider,
    submitted: &BTreeMap<String, String>,
) -> Result<ValidatedFields, Vec<FieldError>> {
    let mut errors = Vec::new();
    for name in submitted.keys() {
        if provider.field(name).is_none() {
            let known: Vec<&str> = provider.fields.iter().map(|f| f.name.as_str()).collect();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            errors.push(FieldError::new(
                &shown_name(name),
                FieldRule::Unknown,
                format!("is not a field of toolkit {} (fields: {known})", provider.slug),
            ));
        }
    }
    let mut values = BTreeMap::new();
    for spec in &provider.fields {
        match submitted.get(&spec.name).filter(|v| !v.is_empty()) {
            None if spec.required => errors.push(FieldError::new(&spec.name, FieldRule::Required, "is required")),
            None => {}
            Some(value) => match spec.check(value) {
                Ok(()) => {
                    values.insert(spec.name.clone(), value.clone());
                }
                Err(e) => errors.push(e),
            },
        }
    }
    if errors.is_empty() {
        for template in provider.templates() {
            if let Err(e) = expand_template(template, &values, &provider.fields) {
                errors.push(e);
            }
        }
        errors.dedup();
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let secret = provider.fields.iter().filter(|f| f.secret).map(|f| f.name.clone()).collect();
    Ok(ValidatedFields { values, secret })
}

/// A submitted field name as it may be echoed in an error: printable ASCII, at most 64 bytes.
fn shown_name(name: &str) -> String {
    let clean: String = name.chars().filter(char::is_ascii_graphic).take(64).collect();
    if clean.is_empty() { "(unnamed)".to_owned() } else { clean }
}

/// Characters no value substituted into a URL may contain, whatever its field's pattern says.
const URL_BREAKERS: &[char] = &['.', '/', '\\', '@', '#', '?', ':', '%', '&', '=', '[', ']', ' ', '{', '}'];

/// Fills the `{field}` placeholders of `template` with `values`, checking each value against its
/// field (pattern, length, control characters, and none of `. / \ @ # ? : %`), then re-checks
/// that the result is https on the template's own host: its fixed part before and after the
/// placeholders (`.zendesk.com`), its port, no credentials and no fragment.
pub fn expand_template(
    template: &str,
    values: &BTreeMap<String, String>,
    fields: &[FieldSpec],
) -> Result<Url, FieldError> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    let mut first_field = None;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close =
            after.find('}').ok_or_else(|| FieldError::new("template", FieldRule::Unusable, "has an unclosed `{`"))?;
        let name = &after[..close];
        first_field.get_or_insert_with(|| name.to_owned());
        let spec = fields.iter().find(|f| f.name == name).ok_or_else(|| {
            FieldError::new(name, FieldRule::Unusable, "is used by a URL template but is not a field")
        })?;
        let value = values.get(name).ok_or_else(|| FieldError::new(name, FieldRule::Required, "is required"))?;
        spec.check(value)?;
        if value.len() > MAX_TEMPLATE_VALUE_LEN {
            return Err(FieldError::new(
                name,
                FieldRule::TooLong { max: MAX_TEMPLATE_VALUE_LEN },
                format!("is longer than {MAX_TEMPLATE_VALUE_LEN} bytes"),
            ));
        }
        if value.contains(URL_BREAKERS) {
            return Err(FieldError::new(
                name,
                FieldRule::HostLabel,
                "must be a single host label (letters, digits and hyphens)",
            ));
        }
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let blame = first_field.as_deref().unwrap_or("template");
    let breaks = |why: &str| {
        FieldError::new(blame, FieldRule::OffHost, format!("would move the URL off the provider's host ({why})"))
    };

    let url = Url::parse(&out).map_err(|_| breaks("not a URL"))?;
    let (prefix, suffix, fixed_port) = host_parts(template).ok_or_else(|| breaks("template has no host"))?;
    let host = url.host_str().ok_or_else(|| breaks("no host"))?.to_ascii_lowercase();
    if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(breaks("scheme, credentials or fragment"));
    }
    let on_host = if template_host_has_placeholder(template) {
        host.len() > prefix.len() + suffix.len() && host.starts_with(&prefix) && host.ends_with(&suffix)
    } else {
        host == prefix
    };
    if !on_host || url.port() != fixed_port {
        return Err(breaks("host changed"));
    }
    Ok(url)
}

/// The template's authority (between `https://` and the path), lowercased.
fn authority(template: &str) -> Option<&str> {
    let rest = template.strip_prefix("https://")?;
    Some(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
}

fn template_host_has_placeholder(template: &str) -> bool {
    authority(template).is_some_and(|a| a.contains('{'))
}

/// The fixed text before the first and after the last placeholder of the template's host (the
/// whole host when it has none), and its explicit port.
fn host_parts(template: &str) -> Option<(String, String, Option<u16>)> {
    let authority = authority(template)?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains('}') => (h, Some(p.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    match (host.find('{'), host.rfind('}')) {
        (Some(open), Some(close)) => Some((host[..open].to_owned(), host[close + 1..].to_owned(), port)),
        _ => Some((host.clone(), String::new(), port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, pattern: Option<&str>, secret: bool) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            display_name: name.into(),
            description: String::new(),
            required: true,
            secret,
            pattern: pattern.map(str::to_owned),
        }
    }

    const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn expands_a_host_template() {
        let fields = [field("subdomain", Some(LABEL), false)];
        let url =
            expand_template("https://{subdomain}.zendesk.com/oauth/tokens", &values(&[("subdomain", "acme")]), &fields)
                .unwrap();
        assert_eq!(url.as_str(), "https://acme.zendesk.com/oauth/tokens");
        let url = expand_template("https://api.example.com/{subdomain}/v1", &values(&[("subdomain", "a-1")]), &fields)
            .unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/a-1/v1");
    }

    /// Table: every template breaker is refused, naming the field, never echoing the value.
    #[test]
    fn refuses_values_that_break_the_template() {
        let loose = [field("subdomain", Some(".*"), false)];
        let strict = [field("subdomain", Some(LABEL), false)];
        let long = "a".repeat(64);
        let huge = "a".repeat(MAX_VALUE_LEN + 1);
        let label = FieldRule::HostLabel;
        let cases: [(&str, &[FieldSpec], &str, FieldRule); 16] = [
            ("evil.com/", &loose, "host label", label),
            ("evil.com/", &strict, "pattern", FieldRule::Pattern),
            ("a.b", &loose, "host label", label),
            ("a#", &loose, "host label", label),
            ("a@b", &loose, "host label", label),
            ("a?x=1", &loose, "host label", label),
            ("a:99", &loose, "host label", label),
            ("a%2e", &loose, "host label", label),
            ("a\\b", &loose, "host label", label),
            ("a b", &loose, "host label", label),
            ("a\nb", &loose, "control", FieldRule::Control),
            ("a\u{0}", &loose, "control", FieldRule::Control),
            ("", &loose, "empty", FieldRule::Required),
            (&long, &loose, "longer than 63", FieldRule::TooLong { max: 63 }),
            (&huge, &loose, "longer than 512", FieldRule::TooLong { max: 512 }),
            (" a", &loose, "whitespace", FieldRule::Whitespace),
        ];
        for (value, fields, message, rule) in cases {
            let e = expand_template("https://{subdomain}.zendesk.com/x", &values(&[("subdomain", value)]), fields)
                .expect_err(value);
            assert_eq!(e.field, "subdomain", "{value:?}");
            assert!(e.message.contains(message), "{value:?}: {}", e.message);
            assert_eq!(e.rule, rule, "{value:?}");
            if value.len() > 2 {
                assert!(!e.message.contains(value), "{value:?} echoed: {}", e.message);
            }
        }
        let e = expand_template("https://{subdomain}.zendesk.com/x", &values(&[]), &strict).unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str(), e.rule), ("subdomain", "is required", FieldRule::Required));
        let e = expand_template("https://{other}.zendesk.com/x", &values(&[("other", "a")]), &strict).unwrap_err();
        assert!(e.message.contains("not a field"), "{e}");
        assert_eq!(e.rule, FieldRule::Unusable);
        // A value its (loose) field takes that breaks the URL in another way: `<` is no host character.
        let e =
            expand_template("https://{subdomain}.zendesk.com/x", &values(&[("subdomain", "a<b")]), &loose).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule), ("subdomain", FieldRule::OffHost), "{e}");
    }

    #[test]
    fn host_parts_are_fixed() {
        assert_eq!(host_parts("https://{subdomain}.Zendesk.com/x"), Some((String::new(), ".zendesk.com".into(), None)));
        assert_eq!(host_parts("https://idp-{t}.example:8443/x"), Some(("idp-".into(), ".example".into(), Some(8443))));
        assert_eq!(host_parts("https://api.example.com/{t}"), Some(("api.example.com".into(), String::new(), None)));
        assert_eq!(host_parts("http://x.example/"), None);
    }

    #[test]
    fn field_checks_name_the_rule() {
        let key = field("api_key", Some("sk-[A-Za-z0-9]{8,}"), true);
        assert!(key.check("sk-abcdefgh12").is_ok());
        let e = key.check("sk-short").unwrap_err();
        assert!(e.message.contains("pattern") && !e.message.contains("sk-short"), "{e}");
        // The pattern is anchored: a valid key inside a longer value does not pass.
        assert!(key.check("xsk-abcdefgh12").is_err() && key.check("sk-abcdefgh12\u{7f}").is_err());
        let free = field("password", None, true);
        assert!(free.check("pa ss wörd!").is_ok());
        assert!(free.check(&"p".repeat(MAX_SECRET_LEN)).is_ok());
        assert!(free.check(&"p".repeat(MAX_SECRET_LEN + 1)).unwrap_err().message.contains("longer"));
        assert!(free.check("a\tb").unwrap_err().message.contains("control"));
        assert!(free.check("a\u{85}b").unwrap_err().message.contains("control"));
    }

    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [(&'a str, &'a str, FieldRule)]);

    fn provider(s: &str) -> Provider {
        let catalog = crate::catalog::Catalog::embedded().unwrap();
        catalog.get(&crate::domain::ToolkitSlug::parse(s).unwrap()).unwrap().clone()
    }

    #[test]
    fn validate_fields_accepts_complete_values() {
        let twilio = provider("twilio");
        let sid = format!("AC{}", "0a".repeat(16));
        let ok = validate_fields(&twilio, &values(&[("username", &sid), ("password", "s3cret token")])).unwrap();
        assert_eq!(ok.get("username"), Some(sid.as_str()));
        assert!(ok.is_secret("password") && !ok.is_secret("username"));
        assert_eq!(ok.public_values().keys().collect::<Vec<_>>(), ["username"]);
        assert!(!format!("{ok:?}").contains("s3cret"), "Debug hides secrets");
        let zendesk = provider("zendesk");
        assert_eq!(
            validate_fields(&zendesk, &values(&[("subdomain", "acme")])).unwrap().get("subdomain"),
            Some("acme")
        );
    }

    /// Table: unknown, missing and invalid fields each give one error naming the field.
    #[test]
    fn validate_fields_names_every_bad_field() {
        let openai = provider("openai");
        let key = format!("sk-{}", "a".repeat(24));
        let (required, unknown) = (FieldRule::Required, FieldRule::Unknown);
        let cases: [Case; 6] = [
            (vec![], &[("api_key", "is required", required)]),
            (vec![("api_key", "")], &[("api_key", "is required", required)]),
            (vec![("api_key", "nope-not-a-key")], &[("api_key", "pattern", FieldRule::Pattern)]),
            (vec![("api_key", &key), ("extra", "x")], &[("extra", "is not a field of toolkit openai", unknown)]),
            (vec![("api_key", "sk-aaaaaaaaaaaaaaaaaaaaaaa\u{1b}")], &[("api_key", "control", FieldRule::Control)]),
            (vec![("bad\nname", "x")], &[("badname", "is not a field", unknown), ("api_key", "is required", required)]),
        ];
        for (submitted, expected) in cases {
            let errors = validate_fields(&openai, &values(&submitted)).unwrap_err();
            assert_eq!(errors.len(), expected.len(), "{submitted:?}: {errors:?}");
            for (e, (want_field, want, rule)) in errors.iter().zip(expected) {
                assert_eq!(e.field, *want_field, "{submitted:?}");
                assert!(e.message.contains(want), "{submitted:?}: {}", e.message);
                assert_eq!(e.rule, *rule, "{submitted:?}");
                assert!(!e.message.contains("nope-not-a-key"), "value echoed: {}", e.message);
            }
        }
        let zendesk = provider("zendesk");
        for bad in ["evil.com/", "a.b", "a#", "a@b", "x:1"] {
            let errors = validate_fields(&zendesk, &values(&[("subdomain", bad)])).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "subdomain");
        }
    }
}
