//! Toolkit slugs: matched case-insensitively, stored and echoed lowercase.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A lowercase toolkit slug of 1..=64 characters from `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ToolkitSlug(String);

/// Why a string is not a toolkit slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSlug {
    #[error("must be 1 to 64 characters")]
    Length,
    #[error("may contain only letters, digits, `_` and `-`")]
    Characters,
}

impl ToolkitSlug {
    /// Parses and lowercases a slug.
    pub fn parse(value: &str) -> Result<Self, InvalidSlug> {
        let value = value.trim();
        if value.is_empty() || value.len() > 64 {
            return Err(InvalidSlug::Length);
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(InvalidSlug::Characters);
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ToolkitSlug {
    type Error = InvalidSlug;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ToolkitSlug> for String {
    fn from(slug: ToolkitSlug) -> String {
        slug.0
    }
}

impl AsRef<str> for ToolkitSlug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ToolkitSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercased_and_checked() {
        assert_eq!(ToolkitSlug::parse("GitHub").unwrap().as_str(), "github");
        assert_eq!(ToolkitSlug::parse("google_calendar-2").unwrap().as_str(), "google_calendar-2");
        assert_eq!(ToolkitSlug::parse(""), Err(InvalidSlug::Length));
        assert_eq!(ToolkitSlug::parse(&"a".repeat(65)), Err(InvalidSlug::Length));
        assert_eq!(ToolkitSlug::parse("git hub"), Err(InvalidSlug::Characters));
        assert_eq!(ToolkitSlug::parse("gît"), Err(InvalidSlug::Characters));
    }
}
