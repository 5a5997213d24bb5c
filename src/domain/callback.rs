//! Callback URLs and the operator's allowlist: the guard that keeps authlink from becoming an open
//! redirect. A [`CallbackUrl`] can only be built through an allowlist check.

use std::{fmt, net::IpAddr, str::FromStr};

use url::{Host, Url};

/// Why a callback URL was refused. The messages are shown to API callers verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("must be an absolute URL")]
    NotAbsolute,
    #[error("must use http or https")]
    Scheme,
    #[error("must not contain user information")]
    UserInfo,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("must be at most 2048 characters")]
    TooLong,
    #[error("must not carry the query parameter `{0}`: authlink sets status, connected_account_id and error itself")]
    ReservedParam(String),
    #[error("is not allowed: only loopback URLs are accepted until the operator sets AUTHLINK_CALLBACK_ALLOWLIST")]
    NotLoopback,
    #[error("does not match any prefix in the operator's AUTHLINK_CALLBACK_ALLOWLIST")]
    NotAllowed,
}

/// Query parameters authlink appends to the callback URL when a flow ends; a caller's URL carrying
/// one of them could make the app read a forged outcome (`?status=success&status=…`).
pub const RESERVED_CALLBACK_PARAMS: &[&str] = &["status", "connected_account_id", "error"];

/// An allowlist entry as (scheme, host, port unless the scheme's default, leading path segments).
pub type PrefixParts<'a> = (&'a str, &'a str, Option<u16>, &'a [String]);

/// One allowlist entry: scheme, host, port and leading path segments that must match exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    scheme: String,
    host: String,
    port: Option<u16>,
    segments: Vec<String>,
}

impl Prefix {
    fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{raw}` must use http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!("`{raw}` must not contain a query, fragment or user information"));
        }
        let host = url.host_str().ok_or_else(|| format!("`{raw}` has no host"))?;
        Ok(Self {
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port: url.port_or_known_default(),
            segments: segments(&url),
        })
    }

    /// (scheme, host, port unless the scheme's default, leading path segments).
    fn parts(&self) -> PrefixParts<'_> {
        let default = if self.scheme == "https" { 443 } else { 80 };
        (self.scheme.as_str(), self.host.as_str(), self.port.filter(|port| *port != default), self.segments.as_slice())
    }

    fn matches(&self, url: &Url) -> bool {
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == self.port
            && segments(url).starts_with(&self.segments)
    }
}

/// Path segments without the empty one a trailing slash leaves, so `/cb/` and `/cb` are the same
/// prefix and `/cb` never matches `/cbevil`.
fn segments(url: &Url) -> Vec<String> {
    url.path_segments().map(|s| s.filter(|seg| !seg.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The operator's list of allowed callback URL prefixes (`AUTHLINK_CALLBACK_ALLOWLIST`).
/// Empty means "loopback only", a safe default for development.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackAllowlist(Vec<Prefix>);

impl FromStr for CallbackAllowlist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(Prefix::parse).collect::<Result<_, _>>().map(Self)
    }
}

impl CallbackAllowlist {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each entry as (scheme, host, port unless the scheme's default, leading path segments),
    /// for the OpenAPI document's description of what [`Self::check`] accepts.
    pub fn prefixes(&self) -> impl Iterator<Item = PrefixParts<'_>> {
        self.0.iter().map(Prefix::parts)
    }

    /// Checks a raw URL and returns it as a [`CallbackUrl`] when it is safe to redirect to.
    pub fn check(&self, raw: &str) -> Result<CallbackUrl, CallbackError> {
        if raw.len() > 2048 {
            return Err(CallbackError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| CallbackError::NotAbsolute)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CallbackError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(CallbackError::NotAbsolute);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CallbackError::UserInfo);
        }
        if url.fragment().is_some() {
            return Err(CallbackError::Fragment);
        }
        if let Some((name, _)) = url.query_pairs().find(|(k, _)| RESERVED_CALLBACK_PARAMS.contains(&k.as_ref())) {
            return Err(CallbackError::ReservedParam(name.into_owned()));
        }
        if self.0.is_empty() {
            return if is_loopback(&url) { Ok(CallbackUrl(url)) } else { Err(CallbackError::NotLoopback) };
        }
        if self.0.iter().any(|p| p.matches(&url)) { Ok(CallbackUrl(url)) } else { Err(CallbackError::NotAllowed) }
    }
}

/// The operator's list of bases a session's `experimental.link_url_overwrite` may name
/// (`AUTHLINK_LINK_URL_ALLOWLIST`): origins or URL prefixes, matched like
/// [`CallbackAllowlist`]'s. Empty means the public URL's origin only, so a tenant cannot hand
/// end users link URLs on a host the operator does not serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkUrlAllowlist(Vec<Prefix>);

impl FromStr for LinkUrlAllowlist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(Prefix::parse).collect::<Result<_, _>>().map(Self)
    }
}

impl LinkUrlAllowlist {
    /// Why an overwrite was refused, as shown to API callers.
    pub const REFUSAL: &str =
        "does not match the operator's AUTHLINK_LINK_URL_ALLOWLIST (by default only this server's public origin)";

    /// Each entry's parts, for the OpenAPI document's description of what [`Self::allows`]
    /// accepts (an empty list: the public origin alone).
    pub fn prefixes(&self) -> impl Iterator<Item = PrefixParts<'_>> {
        self.0.iter().map(Prefix::parts)
    }

    /// Whether `raw` may be the base of a link's `redirect_url`; `public_base` is the server's
    /// public URL, whose origin is the whole list when the operator set none.
    pub fn allows(&self, raw: &str, public_base: &str) -> bool {
        let Ok(url) = Url::parse(raw) else { return false };
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return false;
        }
        if self.0.is_empty() {
            return Url::parse(public_base).is_ok_and(|base| base.origin() == url.origin());
        }
        self.0.iter().any(|p| p.matches(&url))
    }
}

/// A callback URL that passed the allowlist. Only [`CallbackAllowlist::check`] makes one, except
/// for values read back from the database, which were checked when they were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Rebuilds a URL stored by authlink itself (checked on the way in).
    pub fn from_stored(raw: &str) -> Option<Self> {
        Url::parse(raw).ok().map(Self)
    }

    /// The URL with extra query parameters appended, keeping the existing ones.
    pub fn with_params(&self, params: &[(&str, &str)]) -> Url {
        let mut url = self.0.clone();
        url.query_pairs_mut().extend_pairs(params);
        url
    }
}

impl fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> CallbackAllowlist {
        s.parse().unwrap()
    }

    #[test]
    fn empty_allowlist_accepts_only_loopback() {
        let l = CallbackAllowlist::default();
        for ok in [
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://127.8.9.1:1/x",
            "http://[::1]:80/",
            "http://app.localhost/cb",
        ] {
            assert!(l.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example/cb",
            "http://localhost.evil.com/cb",
            "http://10.0.0.1/cb",
            "http://127.0.0.1.nip.io/",
        ] {
            assert_eq!(l.check(bad), Err(CallbackError::NotLoopback), "{bad}");
        }
    }

    #[test]
    fn shape_rules() {
        let l = CallbackAllowlist::default();
        let cases = [
            ("/relative", CallbackError::NotAbsolute),
            ("not a url", CallbackError::NotAbsolute),
            ("javascript:alert(1)", CallbackError::Scheme),
            ("ftp://localhost/x", CallbackError::Scheme),
            ("http://user:pw@localhost/cb", CallbackError::UserInfo),
            ("http://user@localhost/cb", CallbackError::UserInfo),
            ("http://localhost/cb#frag", CallbackError::Fragment),
        ];
        for (raw, want) in cases {
            assert_eq!(l.check(raw), Err(want), "{raw}");
        }
        assert_eq!(l.check(&format!("http://localhost/{}", "a".repeat(2100))), Err(CallbackError::TooLong));
    }

    #[test]
    fn reserved_query_parameters_are_refused() {
        let l = CallbackAllowlist::default();
        for (raw, param) in [
            ("http://localhost/cb?status=success", "status"),
            ("http://localhost/cb?x=1&connected_account_id=ca_x", "connected_account_id"),
            ("http://localhost/cb?error=nope", "error"),
            ("http://localhost/cb?st%61tus=success", "status"),
            ("http://localhost/cb?error", "error"),
        ] {
            assert_eq!(l.check(raw), Err(CallbackError::ReservedParam(param.into())), "{raw}");
        }
        for ok in
            ["http://localhost/cb?user_id=u", "http://localhost/cb?statuses=1&error_page=x", "http://localhost/status"]
        {
            assert!(l.check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn prefixes_match_scheme_host_port_and_whole_segments() {
        let l = list("https://app.example.com/oauth/, http://dev.example.com:8080");
        for ok in [
            "https://app.example.com/oauth",
            "https://app.example.com/oauth/done?x=1",
            "https://APP.example.com:443/oauth/a/b",
            "http://dev.example.com:8080/anything",
        ] {
            assert!(l.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/oauth/done",
            "https://app.example.com:8443/oauth/done",
            "https://app.example.com/oauthx",
            "https://app.example.com/other",
            "https://app.example.com/oauth/../evil",
            "https://app.example.com.evil.com/oauth",
            "https://evil.com/app.example.com/oauth",
            "http://dev.example.com/anything",
            "http://localhost/cb",
        ] {
            assert_eq!(l.check(bad), Err(CallbackError::NotAllowed), "{bad}");
        }
    }

    #[test]
    fn bad_allowlist_entries_are_config_errors() {
        assert!("ftp://x".parse::<CallbackAllowlist>().is_err());
        assert!("https://x/cb?q=1".parse::<CallbackAllowlist>().is_err());
        assert!("nope".parse::<CallbackAllowlist>().is_err());
        assert!("".parse::<CallbackAllowlist>().unwrap().is_empty());
    }

    #[test]
    fn link_url_overwrites_match_the_public_origin_by_default_else_the_list() {
        let public = "https://authlink.example.com/base";
        let default = LinkUrlAllowlist::default();
        for ok in [
            "https://authlink.example.com",
            "https://authlink.example.com:443/other/path",
            "https://AUTHLINK.example.com/",
        ] {
            assert!(default.allows(ok, public), "{ok}");
        }
        for bad in [
            "http://authlink.example.com",
            "https://authlink.example.com:8443",
            "https://evil.example.com",
            "https://authlink.example.com.evil.com",
            "https://user@authlink.example.com",
            "https://authlink.example.com/#x",
            "not a url",
        ] {
            assert!(!default.allows(bad, public), "{bad}");
        }
        let list: LinkUrlAllowlist = "https://connect.example.com, https://example.org/auth/".parse().unwrap();
        for ok in ["https://connect.example.com", "https://connect.example.com/x", "https://example.org/auth/link"] {
            assert!(list.allows(ok, public), "{ok}");
        }
        for bad in [
            "https://authlink.example.com",
            "https://example.org/authx",
            "https://example.org/",
            "http://connect.example.com",
        ] {
            assert!(!list.allows(bad, public), "{bad}");
        }
        assert!("ftp://x".parse::<LinkUrlAllowlist>().is_err());
        assert!("https://x/?q=1".parse::<LinkUrlAllowlist>().is_err());
    }

    #[test]
    fn params_are_appended_keeping_existing_ones() {
        let cb = CallbackAllowlist::default().check("http://localhost/cb?user_id=u").unwrap();
        let url = cb.with_params(&[("status", "success"), ("connected_account_id", "ca_x")]);
        assert_eq!(url.as_str(), "http://localhost/cb?user_id=u&status=success&connected_account_id=ca_x");
    }
}
