//! The one HTTP client for URLs that tenants supply (token, refresh, revocation and userinfo
//! endpoints of custom auth configs, webhook receivers).
//!
//! Every such call must go only where it should (issue 11): https only, no redirects followed
//! (a redirect is a second, unchecked URL), bounded time and response size, and no connection to
//! loopback, private, link-local or metadata addresses, judged both on the URL as written and on
//! what its host name resolves to at connect time. Origins in the operator's
//! `AUTHLINK_ENDPOINT_ALLOWLIST` are exempt from the address rules (the test suites' local OAuth
//! server lives on 127.0.0.1).
//!
//! Two reqwest clients do the work, because reqwest's resolver sees a host name but not the
//! port or scheme, so it cannot tell an allowlisted origin from another port on the same host:
//! the guarded client's resolver refuses forbidden answers, the allowlisted client's resolver
//! resolves only allowlisted names, and [`OutboundClient`] picks the allowlisted one only when
//! the URL's whole origin is on the list.

mod address;
mod error;
mod policy;
mod resolver;

use std::{fmt, sync::Arc, time::Duration};

use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use self::resolver::GuardedResolver;
pub use self::{
    address::{forbidden_range, is_forbidden},
    error::OutboundError,
    policy::{AllowlistError, EndpointAllowlist, OutboundPolicy, OutboundRefusal},
};

/// Sent on every outbound request, so providers and receivers can tell who is calling.
const USER_AGENT: &str = concat!("authlink/", env!("CARGO_PKG_VERSION"));

/// Time and size bounds of one outbound request. A tenant's endpoint must not be able to hold a
/// request handler (and its database transaction) or memory for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Up to the end of the TCP (and TLS) handshake.
    pub connect_timeout: Duration,
    /// From the start of the request to the last byte of the body.
    pub total_timeout: Duration,
    /// Larger bodies are an error; token and userinfo answers are a few kilobytes.
    pub max_response_bytes: usize,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// A response of any status. Redirects arrive here as 3xx, unfollowed; error statuses too,
/// since OAuth error bodies (`invalid_grant`) are the caller's to parse.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Bodies hold tokens; `Debug` shows only their size so a stray `?response` cannot log one.
impl fmt::Debug for OutboundResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The guarded HTTP client; cheap to clone (both reqwest clients share their pools).
#[derive(Clone)]
pub struct OutboundClient {
    policy: Arc<OutboundPolicy>,
    guarded: reqwest::Client,
    allowlisted: reqwest::Client,
    max_response_bytes: usize,
}

impl fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundClient")
            .field("policy", &self.policy)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// Fails only if the TLS backend cannot be set up, which is a startup error.
    pub fn new(policy: OutboundPolicy, limits: OutboundLimits) -> Result<Self, reqwest::Error> {
        let names = Arc::new(policy.allowlist().domain_names());
        let build = |resolver: GuardedResolver| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(resolver))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(limits.connect_timeout)
                .timeout(limits.total_timeout)
                .user_agent(USER_AGENT)
                .build()
        };
        Ok(Self {
            guarded: build(GuardedResolver::Guard)?,
            allowlisted: build(GuardedResolver::Allowlisted(names))?,
            policy: Arc::new(policy),
            max_response_bytes: limits.max_response_bytes,
        })
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// A form POST expecting JSON (OAuth token, refresh and revocation requests). `basic_auth`
    /// is sent as given: for `client_secret_basic` the caller form-urlencodes id and secret
    /// first (RFC 6749 §2.3.1); for `client_secret_post` it puts them in `form`.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic_auth: Option<(&str, &str)>,
    ) -> Result<OutboundResponse, OutboundError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = self
            .client_for(url)?
            .post(url.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some((user, password)) = basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        self.execute(request).await
    }

    /// A GET expecting JSON (userinfo, provider API probes), with an optional bearer token.
    pub async fn get(&self, url: &Url, bearer: Option<&str>) -> Result<OutboundResponse, OutboundError> {
        let mut request = self.client_for(url)?.get(url.clone()).header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.execute(request).await
    }

    /// An OAuth 1.0a request (RFC 5849): `method` GET or POST to `url` as given (its query may
    /// hold the signed `oauth_*` parameters), with the `Authorization: OAuth ...` header when
    /// given, expecting a form-encoded answer.
    pub async fn signed(
        &self,
        method: reqwest::Method,
        url: &Url,
        authorization: Option<&str>,
    ) -> Result<OutboundResponse, OutboundError> {
        let post = method == reqwest::Method::POST;
        let mut request = self.client_for(url)?.request(method, url.clone()).header(header::ACCEPT, "*/*");
        if post {
            // An empty form: some servers refuse a POST without a length.
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body("");
        }
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        self.execute(request).await
    }

    /// A JSON POST with extra headers (webhook deliveries and their signature headers).
    pub async fn post_json(
        &self,
        url: &Url,
        body: Vec<u8>,
        mut headers: HeaderMap,
    ) -> Result<OutboundResponse, OutboundError> {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let request = self.client_for(url)?.post(url.clone()).headers(headers).body(body);
        self.execute(request).await
    }

    /// Checks the URL as written (which also covers IP literals, for which reqwest never asks
    /// the resolver) and picks the client whose resolver fits the URL's origin.
    fn client_for(&self, url: &Url) -> Result<&reqwest::Client, OutboundError> {
        self.policy.check_url_as_written(url).inspect_err(|refusal| {
            tracing::debug!(host = url.host_str(), ?refusal, "outbound URL refused as written");
        })?;
        Ok(if self.policy.is_allowlisted(url) { &self.allowlisted } else { &self.guarded })
    }

    /// Sends and reads the body in chunks, stopping as soon as it passes the cap, so a hostile
    /// endpoint cannot make authlink buffer more than `max_response_bytes`.
    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<OutboundResponse, OutboundError> {
        let too_large = OutboundError::TooLarge { limit: self.max_response_bytes };
        let mut response = request.send().await.map_err(OutboundError::from_reqwest)?;
        if response.content_length().is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(too_large);
        }
        let status = response.status().as_u16();
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(OutboundError::from_reqwest)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse { status, content_type, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolver's refusal travels through reqwest's connect error and comes out as a policy
    /// refusal, not as a transport failure. The as-written check would stop `localhost` first,
    /// so this sends through the guarded client directly, as a name that resolves to loopback
    /// would. Nothing listens on the port: a connect attempt would yield `Transport` instead.
    #[tokio::test]
    async fn refusal_after_dns_is_reported_as_refused() {
        let client = OutboundClient::new(OutboundPolicy::default(), OutboundLimits::default()).unwrap();
        let request = client.guarded.get("http://localhost:9/");
        let err = client.execute(request).await.unwrap_err();
        assert!(matches!(err, OutboundError::Refused(OutboundRefusal::ResolvesToForbidden { .. })), "{err:?}");
        assert_eq!(err.to_string(), "endpoint address not allowed");
        assert_eq!(err.public_reason(), "endpoint address not allowed");
    }

    #[test]
    fn response_debug_hides_the_body() {
        let r = OutboundResponse { status: 200, content_type: None, body: b"{\"access_token\":\"s3cret\"}".to_vec() };
        assert!(!format!("{r:?}").contains("s3cret"));
    }
}
