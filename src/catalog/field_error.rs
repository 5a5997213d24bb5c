//! A refused connection value: the field, the rule it broke ([`FieldRule`]) and the API's English
//! message. The API answers with the message (`connection.val.<field> is required`); the hosted
//! form renders the rule instead, in the page's language, from `form.error.*` in
//! `assets/i18n/*.json` ([`FieldRule::text_key`]), so the translations stay data and the
//! validator stays the one place that decides what is wrong. Neither ever holds the value.

/// Which rule a value broke. Each kind has its own translated message on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRule {
    /// A required field is absent or empty.
    Required,
    /// Longer than `max` bytes.
    TooLong { max: usize },
    /// Holds a control character (a newline, a tab, NUL, U+0085, …).
    Control,
    /// Starts or ends with whitespace.
    Whitespace,
    /// Does not match the field's catalog pattern.
    Pattern,
    /// A value substituted into a URL holds a character that could break the URL (`.`, `/`, `@`,
    /// `#`, `:`, …): it must be one host label.
    HostLabel,
    /// The URL filled in with the value would leave the provider's host.
    OffHost,
    /// The name is not a field of the toolkit.
    Unknown,
    /// The name was sent more than once.
    Duplicate,
    /// The catalog entry's template itself cannot be filled (a configuration error, not the
    /// user's): the value cannot be used.
    Unusable,
    /// A reconnect names another tenant than the account was connected with (its tokens belong
    /// to that tenant): connect a new account instead.
    TenantFixed,
}

impl FieldRule {
    /// The `assets/i18n` key of the rule's message on the form.
    pub fn text_key(self) -> &'static str {
        match self {
            FieldRule::Required => "form.error.missing",
            FieldRule::TooLong { .. } => "form.error.too_long",
            FieldRule::Control => "form.error.control",
            FieldRule::Whitespace => "form.error.whitespace",
            FieldRule::Pattern => "form.error.pattern",
            FieldRule::HostLabel => "form.error.host_label",
            FieldRule::OffHost => "form.error.off_host",
            FieldRule::Unknown => "form.error.unknown",
            FieldRule::Duplicate => "form.error.duplicate",
            FieldRule::Unusable => "form.error.unusable",
            FieldRule::TenantFixed => "form.error.tenant_fixed",
        }
    }

    /// Every kind (one `TooLong`), for tests that each has its text.
    pub const ALL: [FieldRule; 11] = [
        FieldRule::Required,
        FieldRule::TooLong { max: 0 },
        FieldRule::Control,
        FieldRule::Whitespace,
        FieldRule::Pattern,
        FieldRule::HostLabel,
        FieldRule::OffHost,
        FieldRule::Unknown,
        FieldRule::Duplicate,
        FieldRule::Unusable,
        FieldRule::TenantFixed,
    ];
}

/// A refused field value: which field, which rule, and the API's English wording of it (never
/// the value itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub rule: FieldRule,
    /// English, for the API's error envelope and the logs.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, rule: FieldRule, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), rule, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::FieldRule;

    #[test]
    fn every_rule_has_its_own_english_text() {
        let mut keys: Vec<&str> = FieldRule::ALL.iter().map(|r| r.text_key()).collect();
        for key in &keys {
            assert!(!crate::i18n::Lang::En.text(key).is_empty(), "{key}");
        }
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), FieldRule::ALL.len(), "one key per rule");
    }
}
