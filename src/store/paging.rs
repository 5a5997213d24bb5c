//! Keyset paging shared by every listing: the opaque cursor, the page envelope, and the one
//! function that turns `limit + 1` fetched rows into a page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

/// Sort key of account listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    CreatedAt,
    UpdatedAt,
}

/// Keyset position after which a page starts, plus the page number for `current_page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub page: i64,
    pub at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    /// Opaque wire form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}|{}", self.page, self.at.timestamp_micros(), self.id))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let mut parts = text.splitn(3, '|');
        let page = parts.next()?.parse().ok().filter(|p| *p >= 1)?;
        let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = parts.next()?.to_owned();
        Some(Self { page, at, id })
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_items: i64,
    pub current_page: i64,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds the page from `limit + 1` fetched rows: the extra row only says whether a next
    /// page exists; `key` gives the keyset position (timestamp, id) of the last item shown.
    pub fn from_rows(
        mut items: Vec<T>,
        limit: i64,
        total_items: i64,
        after: Option<&Cursor>,
        key: impl Fn(&T) -> (DateTime<Utc>, String),
    ) -> Self {
        let current_page = after.map_or(1, |c| c.page + 1);
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if has_more {
            items.last().map(|last| {
                let (at, id) = key(last);
                Cursor { page: current_page, at, id }.encode()
            })
        } else {
            None
        };
        Self { items, total_items, current_page, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).unwrap()
    }

    #[test]
    fn pages_from_limit_plus_one_rows() {
        let rows = |n: i64| (1..=n).map(|i| (at(i), format!("r{i}"))).collect::<Vec<_>>();
        let first = Page::from_rows(rows(3), 2, 9, None, Clone::clone);
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.current_page, 1);
        assert_eq!(first.total_items, 9);
        let cursor = Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor, Cursor { page: 1, at: at(2), id: "r2".into() });
        let last = Page::from_rows(rows(2), 2, 9, Some(&cursor), Clone::clone);
        assert_eq!(last.current_page, 2);
        assert_eq!(last.next_cursor, None);
        assert!(Page::from_rows(rows(1), -1, 0, None, Clone::clone).items.is_empty());
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor {
            page: 3,
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "ca_x|y".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("!!!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("0|1|x")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1|nope|x")), None);
    }
}
