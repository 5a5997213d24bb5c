//! The end user's pages in six languages. Each language is one flat JSON file of `key → text` in
//! `assets/i18n/` (embedded at build time, parsed once); English (`en.json`) is the reference
//! every other file must match key for key and placeholder for placeholder (a unit test checks).
//! Texts are plain text with `{name}` placeholders; [`Lang::html`] escapes the text and puts the
//! caller's (already escaped) HTML fragments in place of the placeholders.
//!
//! The language comes from `?lang=` when it names one authlink speaks, else from the first
//! `Accept-Language` entry (by q-value, RFC 9110 §12.5.4) that matches one by its primary subtag
//! (`de-AT` → German, `zh-CN`, `zh-Hans`, `zh-TW` → Simplified Chinese, the nearest authlink has),
//! else English.

use std::{collections::HashMap, sync::LazyLock};

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    De,
    Es,
    Fr,
    Ja,
    Zh,
}

/// Longest `Accept-Language` header read; the rest is ignored.
const MAX_HEADER: usize = 1024;
/// At most this many of its entries are considered.
const MAX_ENTRIES: usize = 32;

impl Lang {
    /// Every language, English first.
    pub const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Es, Lang::Fr, Lang::Ja, Lang::Zh];

    /// The short code of `?lang=` and the file name (`assets/i18n/{code}.json`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::Ja => "ja",
            Lang::Zh => "zh",
        }
    }

    /// The BCP 47 tag for `<html lang>` and `hreflang`.
    pub fn tag(self) -> &'static str {
        if self == Lang::Zh { "zh-Hans" } else { self.code() }
    }

    /// The language a tag names (`de`, `DE-ch`, `zh-Hans-CN`), by its primary subtag.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL.into_iter().find(|l| primary.eq_ignore_ascii_case(l.code()))
    }

    /// The text of `key` in this language (English when missing, the key itself when English
    /// lacks it too, so a typo shows up on the page rather than as a panic).
    pub fn text(self, key: &str) -> &'static str {
        let all = catalogs();
        all[self as usize].get(key).or_else(|| all[Lang::En as usize].get(key)).map_or_else(
            || {
                tracing::warn!(key, "missing translation key");
                ""
            },
            String::as_str,
        )
    }

    /// `key`'s text as HTML: escaped, with each `{name}` replaced by its (already HTML) value.
    pub fn html(self, key: &str, values: &[(&str, &str)]) -> String {
        let mut out = crate::http::pages::escape(self.text(key));
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// Picks the language: `query` (`?lang=`) when it names one, else `accept_language`, else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        query.and_then(Lang::from_tag).or_else(|| accept_language.and_then(from_accept_language)).unwrap_or(Lang::En)
    }
}

/// The best language of an `Accept-Language` value, if any entry with q > 0 names one.
fn from_accept_language(header: &str) -> Option<Lang> {
    let header = &header[..floor_char_boundary(header, MAX_HEADER)];
    let mut entries: Vec<(u16, usize, Lang)> = header
        .split(',')
        .take(MAX_ENTRIES)
        .enumerate()
        .filter_map(|(i, entry)| {
            let mut parts = entry.split(';');
            let tag = parts.next()?.trim();
            let mut q = 1000;
            for param in parts {
                let (k, v) = param.split_once('=')?;
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim())?;
                }
            }
            (q > 0 && tag != "*").then_some(())?;
            Some((q, i, Lang::from_tag(tag)?))
        })
        .collect();
    // Highest q first; among equals, the order of the header.
    entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    entries.first().map(|e| e.2)
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

const SOURCES: [&str; 6] = [
    include_str!("../assets/i18n/en.json"),
    include_str!("../assets/i18n/de.json"),
    include_str!("../assets/i18n/es.json"),
    include_str!("../assets/i18n/fr.json"),
    include_str!("../assets/i18n/ja.json"),
    include_str!("../assets/i18n/zh.json"),
];

type Catalog = HashMap<String, String>;

static CATALOGS: LazyLock<Vec<Catalog>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .zip(Lang::ALL)
        .map(|(source, lang)| {
            serde_json::from_str(source).unwrap_or_else(|e| {
                panic!("assets/i18n/{}.json is not a flat JSON object of strings: {e}", lang.code())
            })
        })
        .collect()
});

fn catalogs() -> &'static [Catalog] {
    &CATALOGS
}

/// Parses the translations now (at start-up) rather than on the first page.
pub fn load() {
    LazyLock::force(&CATALOGS);
}

/// The `{name}` placeholders of a text, sorted.
fn placeholders(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = text
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    names.sort_unstable();
    names
}

/// What is wrong with the translations: keys missing from or extra to a locale compared with
/// English, and texts whose placeholders differ from English's. Empty when they are complete.
pub fn problems() -> Vec<String> {
    let all = catalogs();
    let en = &all[Lang::En as usize];
    let mut problems = Vec::new();
    for lang in Lang::ALL {
        let catalog = &all[lang as usize];
        for (key, text) in en {
            match catalog.get(key) {
                None => problems.push(format!("{}: missing {key}", lang.code())),
                Some(t) if t.trim().is_empty() => problems.push(format!("{}: {key} is empty", lang.code())),
                Some(t) if placeholders(t) != placeholders(text) => problems.push(format!(
                    "{}: {key} has placeholders {:?}, English {:?}",
                    lang.code(),
                    placeholders(t),
                    placeholders(text)
                )),
                Some(_) => {}
            }
        }
        for key in catalog.keys().filter(|k| !en.contains_key(*k)) {
            problems.push(format!("{}: {key} is not in en.json", lang.code()));
        }
    }
    problems.sort();
    problems
}

/// Every key of English, sorted.
pub fn keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = catalogs()[Lang::En as usize].keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::{Lang, from_accept_language, parse_q, placeholders, problems};

    #[test]
    fn every_locale_has_exactly_the_keys_and_placeholders_of_english() {
        assert_eq!(problems(), Vec::<String>::new());
        assert!(super::keys().len() > 40);
    }

    #[test]
    fn accept_language_is_read_by_q_value_and_primary_subtag() {
        for (header, want) in [
            ("de", Some(Lang::De)),
            ("de-AT,en;q=0.5", Some(Lang::De)),
            ("en;q=0.4, fr;q=0.9", Some(Lang::Fr)),
            ("zh-CN,zh;q=0.9,en;q=0.8", Some(Lang::Zh)),
            ("zh-Hans", Some(Lang::Zh)),
            ("zh_TW", Some(Lang::Zh)),
            ("ja-JP", Some(Lang::Ja)),
            ("ES-mx", Some(Lang::Es)),
            ("nl, it;q=0.8", None),
            ("nl, de;q=0.1", Some(Lang::De)),
            ("de;q=0, es", Some(Lang::Es)),
            ("de;q=0", None),
            ("*", None),
            ("fr;q=2, ja", Some(Lang::Ja)),
            ("fr;q=abc, ja;q=0.1", Some(Lang::Ja)),
            ("fr;q=0.5, de;q=0.5", Some(Lang::Fr)),
            ("fr;q=0.001, de;q=0.0001", Some(Lang::Fr)),
            ("", None),
            (";;;,,,", None),
            ("日本語", None),
        ] {
            assert_eq!(from_accept_language(header), want, "{header:?}");
        }
        let long = format!("{}de", "xx, ".repeat(400));
        assert_eq!(from_accept_language(&long), None, "entries past the limit are ignored");
    }

    #[test]
    fn the_query_wins_and_english_is_the_fallback() {
        assert_eq!(Lang::negotiate(Some("ja"), Some("de")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("xx"), Some("de")), Lang::De);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(Lang::negotiate(Some(""), Some("it")), Lang::En);
    }

    #[test]
    fn q_values_follow_rfc_9110() {
        for (v, want) in [("1", Some(1000)), ("1.000", Some(1000)), ("0.5", Some(500)), ("0", Some(0))] {
            assert_eq!(parse_q(v), want, "{v}");
        }
        for bad in ["1.5", "2", "0.1234", "-1", "", ".5", "0.x"] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
    }

    #[test]
    fn html_escapes_the_text_and_fills_placeholders() {
        assert_eq!(Lang::En.html("link.heading", &[("provider", "<b>G</b>")]), "Connect your <b>G</b> account");
        assert_eq!(Lang::Ja.text("link.continue"), "{provider} へ進む");
        assert_eq!(placeholders("a {x} b {y_z} {x} {} {A}"), ["x", "x", "y_z"]);
    }
}
