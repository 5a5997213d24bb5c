//! The browser origins allowed to call the MCP endpoints (`AUTHLINK_MCP_ALLOWED_ORIGINS`). The
//! Streamable HTTP transport requires servers to validate `Origin` so that a web page a user
//! visits cannot reach a locally bound server through DNS rebinding; authlink's own public
//! origin is always allowed, any other only when the operator lists it.

use std::str::FromStr;

use url::Url;

/// Origins in their ASCII serialization (`scheme://host[:port]`, default ports omitted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginAllowlist(Vec<String>);

impl FromStr for OriginAllowlist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',').map(str::trim).filter(|o| !o.is_empty()).map(parse_origin).collect::<Result<_, _>>().map(Self)
    }
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not an origin ({e})"))?;
    let origin = url.origin();
    if !origin.is_tuple() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{raw}` is not an http(s) origin"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("`{raw}` must be an origin only (scheme, host, port), without path or query"));
    }
    Ok(origin.ascii_serialization())
}

impl OriginAllowlist {
    /// Whether a request's `Origin` header value may call the MCP endpoints. `public_base` is the
    /// server's public URL, whose origin is always allowed. `null` and unparsable values are not.
    pub fn allows(&self, origin: &str, public_base: &str) -> bool {
        let Ok(asked) = parse_origin(origin.trim()) else { return false };
        let own = Url::parse(public_base).map(|u| u.origin().ascii_serialization()).ok();
        own.as_deref() == Some(asked.as_str()) || self.0.contains(&asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_origins() {
        let list: OriginAllowlist = "https://app.example.com, http://127.0.0.1:6274".parse().unwrap();
        let public = "https://authlink.example.com";
        assert!(list.allows("https://authlink.example.com", public));
        assert!(list.allows("https://authlink.example.com:443", public));
        assert!(list.allows("https://app.example.com", public));
        assert!(list.allows("http://127.0.0.1:6274", public));
        for refused in ["null", "", "https://evil.example", "http://app.example.com", "http://127.0.0.1:6275", "x"] {
            assert!(!list.allows(refused, public), "{refused}");
        }
        assert!(OriginAllowlist::default().allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in
            ["nope", "https://a.example/path", "ftp://a.example", "https://a.example/?q=1", "https://u@a.example"]
        {
            assert!(bad.parse::<OriginAllowlist>().is_err(), "{bad}");
        }
        assert_eq!("".parse::<OriginAllowlist>().unwrap(), OriginAllowlist::default());
    }
}
