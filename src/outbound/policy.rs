//! The operator's outbound policy and the check of a URL as the tenant wrote it.
//!
//! The as-written check runs twice: when an auth config or webhook subscription is created (so a
//! tenant gets a clear 400 naming the field instead of a failure much later), and again before
//! every request (so a row written before a policy change cannot slip through). It only sees the
//! URL text; what a host name resolves to is checked by the resolver at connect time.

use std::{collections::HashSet, fmt, str::FromStr};

use url::{Host, Origin, Url};

use super::address::forbidden_range;

/// Host names that lead to the machine itself or to a cloud metadata service whatever DNS says.
/// Refusing them as written gives the tenant an early, clear answer; the resolver would refuse
/// most of them anyway once they resolve to a forbidden address.
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// Origins the operator lets authlink call even when they are private or plain http, typically
/// the test suites' local OAuth server and webhook receiver, or an in-house IdP. Parsed from
/// `AUTHLINK_ENDPOINT_ALLOWLIST` (comma-separated, like `http://127.0.0.1:9000,https://idp:8443`).
/// Whole origins, not hosts: allowlisting one port of a host does not open its other ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointAllowlist {
    origins: Vec<Origin>,
}

/// A bad `AUTHLINK_ENDPOINT_ALLOWLIST` entry; the message quotes the entry so the operator can
/// find it in a long list (credentials in it are dropped from the quote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint allowlist entry `{entry}` {reason}; expected an origin like https://idp.example:8443")]
pub struct AllowlistError {
    pub entry: String,
    pub reason: &'static str,
}

impl FromStr for EndpointAllowlist {
    type Err = AllowlistError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let origin = parse_origin(entry)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self { origins })
    }
}

fn parse_origin(entry: &str) -> Result<Origin, AllowlistError> {
    let fail = |entry: &str, reason| Err(AllowlistError { entry: entry.to_owned(), reason });
    let Ok(mut url) = Url::parse(entry) else {
        return fail(entry, "is not a URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        return fail(url.as_str(), "must not contain a user name or password");
    }
    if !matches!(url.scheme(), "http" | "https") {
        return fail(entry, "must use http or https");
    }
    if url.host().is_none() {
        return fail(entry, "must name a host");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return fail(entry, "must not have a path, query or fragment");
    }
    Ok(url.origin())
}

impl EndpointAllowlist {
    /// Whether `url`'s scheme, host and port are exactly one of the allowlisted origins.
    pub fn contains(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.origins.contains(&origin)
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Host names (not IP literals) of the allowlisted origins: the only names the allowlisted
    /// client's resolver will look up.
    pub(crate) fn domain_names(&self) -> HashSet<String> {
        self.origins
            .iter()
            .filter_map(|o| match o {
                Origin::Tuple(_, Host::Domain(d), _) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for EndpointAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.origins.iter().map(Origin::ascii_serialization).collect();
        f.write_str(&list.join(","))
    }
}

/// Why a URL may not be called. `Display` is a short reason for a 400 message; the caller puts
/// the field name in front (`token_url must use https`). No variant's text says anything about
/// the network beyond the URL the tenant wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefusal {
    #[error("must use https")]
    NotHttps,
    #[error("must not contain a user name or password")]
    UserInfo,
    #[error("must name a host")]
    NoHost,
    #[error("must not name localhost")]
    LocalName,
    #[error("must not name a cloud metadata service")]
    MetadataName,
    /// `range` is for logs; the tenant only learns the address is not allowed.
    #[error("must not point to a loopback, private, link-local or reserved address")]
    ForbiddenAddress { range: &'static str },
    /// Found by the resolver at connect time, so only reachable through a request.
    #[error("resolves to an address that is not allowed")]
    ResolvesToForbidden { range: &'static str },
    /// The allowlisted client was asked for a name outside the allowlist (a bug if it happens).
    #[error("is not an allowlisted endpoint")]
    NotAllowlisted,
    #[error("must not be set: this server only uses the catalog's provider endpoints")]
    TenantEndpointsDisabled,
}

/// What the operator allows authlink to call on a tenant's behalf.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowlist: EndpointAllowlist,
    tenant_endpoints_forbidden: bool,
}

impl OutboundPolicy {
    /// `tenant_endpoints_forbidden` is for operators who want tenants to use the catalog's
    /// provider endpoints only; it is enforced by [`Self::check_tenant_endpoint`].
    pub fn new(allowlist: EndpointAllowlist, tenant_endpoints_forbidden: bool) -> Self {
        Self { allowlist, tenant_endpoints_forbidden }
    }

    pub fn allowlist(&self) -> &EndpointAllowlist {
        &self.allowlist
    }

    pub fn tenant_endpoints_forbidden(&self) -> bool {
        self.tenant_endpoints_forbidden
    }

    /// Whether `url`'s origin skips the address rules (and may be plain http).
    pub fn is_allowlisted(&self, url: &Url) -> bool {
        self.allowlist.contains(url)
    }

    /// For a provider endpoint a tenant supplies (custom token/authorize/userinfo URL): refused
    /// outright when the operator forbade tenant endpoints, even for allowlisted origins, since
    /// "catalog only" is the point of that switch; otherwise [`Self::check_url_as_written`].
    /// Webhook receivers, which have no catalog alternative, use `check_url_as_written` directly.
    pub fn check_tenant_endpoint(&self, url: &Url) -> Result<(), OutboundRefusal> {
        if self.tenant_endpoints_forbidden {
            return Err(OutboundRefusal::TenantEndpointsDisabled);
        }
        self.check_url_as_written(url)
    }

    /// Refuses a URL on its text alone: a scheme other than https (http only for allowlisted
    /// origins), user info (credentials belong in headers, and `https://good@evil` misleads
    /// readers), `localhost` names, cloud metadata names and IP literals in a forbidden range.
    /// Allowlisted origins skip the host rules. IP literals are checked here because reqwest
    /// connects to them without asking the resolver.
    pub fn check_url_as_written(&self, url: &Url) -> Result<(), OutboundRefusal> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundRefusal::UserInfo);
        }
        let allowlisted = self.allowlist.contains(url);
        match url.scheme() {
            "https" => {}
            "http" if allowlisted => {}
            _ => return Err(OutboundRefusal::NotHttps),
        }
        if allowlisted {
            return Ok(());
        }
        match url.host() {
            None => Err(OutboundRefusal::NoHost),
            Some(Host::Ipv4(ip)) => check_ip(ip.into()),
            Some(Host::Ipv6(ip)) => check_ip(ip.into()),
            Some(Host::Domain(name)) => check_name(name),
        }
    }
}

fn check_ip(ip: std::net::IpAddr) -> Result<(), OutboundRefusal> {
    match forbidden_range(ip) {
        Some(range) => Err(OutboundRefusal::ForbiddenAddress { range }),
        None => Ok(()),
    }
}

fn check_name(name: &str) -> Result<(), OutboundRefusal> {
    // A trailing dot names the same host; the url crate already lowercased special-scheme hosts,
    // the lowercasing here is for safety if that ever changes.
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err(OutboundRefusal::NoHost);
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(OutboundRefusal::LocalName);
    }
    if METADATA_NAMES.contains(&name.as_str()) {
        return Err(OutboundRefusal::MetadataName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str) -> OutboundPolicy {
        OutboundPolicy::new(allow.parse().unwrap(), false)
    }

    #[test]
    fn allowlist_parses_origins_and_skips_blanks() {
        let list: EndpointAllowlist =
            " http://127.0.0.1:9000 , https://IdP.Internal.Example:8443/,,https://a.example ".parse().unwrap();
        assert_eq!(list.to_string(), "http://127.0.0.1:9000,https://idp.internal.example:8443,https://a.example");
        assert!(list.contains(&Url::parse("https://a.example:443/token").unwrap()));
        assert!(!list.contains(&Url::parse("http://a.example/").unwrap()));
        assert!(!list.contains(&Url::parse("http://127.0.0.1:9001/").unwrap()));
        assert!("".parse::<EndpointAllowlist>().unwrap().is_empty());
    }

    #[test]
    fn allowlist_errors_name_the_entry() {
        let cases = [
            ("https://ok.example,127.0.0.1:9000", "127.0.0.1:9000", "is not a URL"),
            ("nonsense", "nonsense", "is not a URL"),
            ("ftp://files.example", "ftp://files.example", "must use http or https"),
            ("https://a.example/token", "https://a.example/token", "must not have a path, query or fragment"),
            ("https://a.example/?x=1", "https://a.example/?x=1", "must not have a path, query or fragment"),
            ("https://bob:hunter2@a.example", "https://a.example/", "must not contain a user name or password"),
            ("file:///etc/passwd", "file:///etc/passwd", "must use http or https"),
        ];
        for (input, entry, reason) in cases {
            let err = input.parse::<EndpointAllowlist>().unwrap_err();
            assert_eq!((err.entry.as_str(), err.reason), (entry, reason), "{input}");
            assert!(err.to_string().contains(&format!("`{entry}`")), "{err}");
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn as_written_table() {
        use OutboundRefusal::*;
        let allow = "http://127.0.0.1:9000,https://idp.internal.example:8443,http://localhost:7000";
        let cases: &[(&str, Result<(), OutboundRefusal>)] = &[
            ("https://github.com/login/oauth/access_token", Ok(())),
            ("https://93.184.216.34/token", Ok(())),
            ("https://[2606:4700:4700::1111]/", Ok(())),
            ("http://github.com/token", Err(NotHttps)),
            ("ftp://github.com/token", Err(NotHttps)),
            ("file:///etc/passwd", Err(NotHttps)),
            ("https://user:pw@github.com/", Err(UserInfo)),
            ("https://user@github.com/", Err(UserInfo)),
            ("https://localhost/", Err(LocalName)),
            ("https://LOCALHOST./", Err(LocalName)),
            ("https://app.localhost/", Err(LocalName)),
            ("https://metadata.google.internal/computeMetadata/v1/", Err(MetadataName)),
            ("https://metadata/", Err(MetadataName)),
            ("https://instance-data/latest/", Err(MetadataName)),
            ("https://169.254.169.254/latest/meta-data/", Err(ForbiddenAddress { range: "cloud metadata address" })),
            ("https://100.100.100.200/", Err(ForbiddenAddress { range: "cloud metadata address" })),
            ("https://[fd00:ec2::254]/", Err(ForbiddenAddress { range: "cloud metadata address" })),
            ("https://127.0.0.1/", Err(ForbiddenAddress { range: "loopback 127.0.0.0/8" })),
            // WHATWG parsing turns these spellings into 127.0.0.1 before the check sees them.
            ("https://2130706433/", Err(ForbiddenAddress { range: "loopback 127.0.0.0/8" })),
            ("https://0x7f.1/", Err(ForbiddenAddress { range: "loopback 127.0.0.0/8" })),
            ("https://[::ffff:127.0.0.1]/", Err(ForbiddenAddress { range: "loopback 127.0.0.0/8" })),
            ("https://[::1]/", Err(ForbiddenAddress { range: "loopback ::1" })),
            ("https://10.0.0.5/", Err(ForbiddenAddress { range: "private 10.0.0.0/8" })),
            ("https://0.0.0.0/", Err(ForbiddenAddress { range: "this-network 0.0.0.0/8" })),
            // Allowlisted origins: private and plain http are fine, but only that exact origin.
            ("http://127.0.0.1:9000/token", Ok(())),
            ("https://idp.internal.example:8443/token", Ok(())),
            ("http://localhost:7000/hook", Ok(())),
            ("http://127.0.0.1:9001/token", Err(NotHttps)),
            ("https://127.0.0.1:9000/token", Err(ForbiddenAddress { range: "loopback 127.0.0.0/8" })),
            ("http://idp.internal.example:8443/token", Err(NotHttps)),
            ("https://localhost:7000/hook", Err(LocalName)),
            ("http://u:p@127.0.0.1:9000/token", Err(UserInfo)),
        ];
        let policy = policy(allow);
        for (text, expected) in cases {
            let url = Url::parse(text).unwrap();
            assert_eq!(&policy.check_url_as_written(&url), expected, "{text}");
        }
    }

    #[test]
    fn catalog_only_refuses_every_tenant_endpoint() {
        let allow: EndpointAllowlist = "http://127.0.0.1:9000".parse().unwrap();
        let strict = OutboundPolicy::new(allow.clone(), true);
        let open = OutboundPolicy::new(allow, false);
        for text in ["https://github.com/token", "http://127.0.0.1:9000/token"] {
            let url = Url::parse(text).unwrap();
            assert_eq!(strict.check_tenant_endpoint(&url), Err(OutboundRefusal::TenantEndpointsDisabled));
            assert_eq!(open.check_tenant_endpoint(&url), Ok(()));
            // The request-time check is unaffected: catalog endpoints still go through it.
            assert_eq!(strict.check_url_as_written(&url), Ok(()));
        }
    }

    #[test]
    fn refusal_texts_are_short_field_suffixes() {
        let r = OutboundRefusal::ResolvesToForbidden { range: "private 10.0.0.0/8" };
        assert_eq!(r.to_string(), "resolves to an address that is not allowed");
        assert!(!OutboundRefusal::ForbiddenAddress { range: "loopback" }.to_string().contains("127"));
    }
}
