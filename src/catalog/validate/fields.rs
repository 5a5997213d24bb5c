//! The rules of an entry's `fields`: names, display names and patterns, and which fields need a
//! host-label pattern (every field of an `OAUTH2` entry, and any field a URL template uses) so a
//! value can never move a request to another host.
//!
//! Split from `validate.rs` because the pattern analysis (walking the regex syntax tree) is its
//! own concern, and the per-scheme field rules change with every new scheme.

use std::collections::BTreeSet;

use super::is_identifier;
use crate::catalog::{AuthScheme, Provider};

/// Characters a value substituted into a URL (or any OAUTH2 field) must never contain.
const HOST_BREAKERS: &[char] = &['.', '/', '@', '#', '?', ':', '%', '\\', ' '];

/// The per-scheme rules of `fields` and `credential`; returns the declared field names.
pub(super) fn check_fields(provider: &Provider) -> Result<BTreeSet<&str>, String> {
    let mut declared = BTreeSet::new();
    for f in &provider.fields {
        let name = f.name.as_str();
        if !is_identifier(name) {
            return Err(format!("{name:?} must match [a-z][a-z0-9_]*"));
        }
        if !declared.insert(name) {
            return Err(format!("{name:?} is listed twice"));
        }
        if f.display_name.trim().is_empty() {
            return Err(format!("{name}: display_name must not be empty"));
        }
        if let Some(pattern) = &f.pattern {
            // Parsing is the check (what `regex` would refuse as syntax); compiling all the
            // catalog's patterns here was a third of the start-up time. They compile on first use.
            regex_syntax::Parser::new()
                .parse(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("{name}: pattern {pattern:?} is not a valid regex ({e})"))?;
        }
    }
    let templated = provider.template_fields();
    for f in &provider.fields {
        if provider.auth_scheme.is_oauth() || templated.contains(&f.name.as_str()) {
            let why = if provider.auth_scheme.is_oauth() { "on an OAUTH2 entry" } else { "used in a URL template" };
            let pattern = f.pattern.as_deref().ok_or_else(|| format!("{}: a field {why} needs a pattern", f.name))?;
            if pattern_may_match(pattern, HOST_BREAKERS)? {
                return Err(format!(
                    "{}: the pattern of a field {why} must be a host label: it may not match any of . / @ # ? : % \\ or space",
                    f.name
                ));
            }
        }
    }
    if provider.auth_scheme.is_oauth() {
        return Ok(declared);
    }
    if provider.auth_scheme == AuthScheme::OAuth1 {
        // The three endpoints are fixed: no per-tenant field is ever asked for on the way.
        if let Some(f) = provider.fields.first() {
            return Err(format!("{}: OAUTH1 entries take no fields", f.name));
        }
        return Ok(declared);
    }
    if !provider.fields.iter().any(|f| f.secret) {
        return Err(format!("{} entries need at least one secret field", provider.auth_scheme));
    }
    if provider.auth_scheme == AuthScheme::Basic {
        // Usually the password is the secret; providers that take an API key as the username
        // (Freshdesk, Greenhouse, Toggl, ...) mark the username secret instead, and the
        // secret-field check above makes sure one of the two is.
        if provider.field("username").is_none() || provider.field("password").is_none() {
            return Err("BASIC entries need a `username` field and a `password` field".into());
        }
    }
    Ok(declared)
}

/// Whether a (catalog) regex could match a string containing any of `chars`: every literal and
/// class of its syntax tree is inspected, so the answer errs on the side of "yes".
fn pattern_may_match(pattern: &str, chars: &[char]) -> Result<bool, String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn walk(h: &Hir, chars: &[char]) -> bool {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => false,
            HirKind::Literal(lit) => String::from_utf8_lossy(&lit.0).contains(chars),
            HirKind::Class(Class::Unicode(c)) => {
                c.ranges().iter().any(|r| chars.iter().any(|&x| r.start() <= x && x <= r.end()))
            }
            HirKind::Class(Class::Bytes(c)) => c
                .ranges()
                .iter()
                .any(|r| chars.iter().any(|&x| u8::try_from(x).is_ok_and(|b| (r.start()..=r.end()).contains(&b)))),
            HirKind::Repetition(r) => walk(&r.sub, chars),
            HirKind::Capture(c) => walk(&c.sub, chars),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(|h| walk(h, chars)),
        }
    }
    let hir = regex_syntax::Parser::new()
        .parse(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("pattern {pattern:?} is not a valid regex ({e})"))?;
    Ok(walk(&hir, chars))
}
