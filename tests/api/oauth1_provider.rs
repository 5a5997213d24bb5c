//! An in-process OAuth 1.0a provider for tests (RFC 5849), on `127.0.0.1:0`, one per test.
//!
//! It checks every request as a real server would before answering: the consumer key, the
//! HMAC-SHA1 signature over the request it received (rebuilt from its own URL, the query and the
//! `Authorization` header, with the secrets it issued), the nonce (each once) and the timestamp;
//! a temporary token works once, only with its verifier. Signatures are taken from the header of
//! a POST or from the query of a GET, whichever the client used; both are recorded.
//!
//! * `/oauth/request` — temporary credentials (`oauth_callback` required).
//! * `/authorize?oauth_token=T` — the consent screen: 302 to the callback with `oauth_token` and
//!   `oauth_verifier`, or (after [`OAuth1Provider::deny`]) `oauth_token` alone, as Evernote does.
//! * `/oauth/access` — token credentials, with Evernote's `edam_*` parameters.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
};

use authlink::{
    catalog::SignatureMethod,
    service::oauth1::{base_string, parse_authorization_header, signature},
};
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use tokio::net::TcpListener;
use url::Url;

pub const CONSUMER_KEY: &str = "ck-notes";
/// With characters RFC 5849 percent-encodes in the signing key.
pub const CONSUMER_SECRET: &str = "cs&notes secret/1";
pub const ACCESS_TOKEN: &str = "S=s1:U=2a:E=18d:C=1a:P=1cd:A=en-devtoken:V=2:H=access";
pub const ACCESS_SECRET: &str = "access-secret-1";
pub const NOTE_STORE: &str = "https://www.evernote.com/shard/s1/notestore";

/// One signed request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub endpoint: &'static str,
    pub method: String,
    /// Whether the protocol parameters came in the `Authorization` header.
    pub in_header: bool,
    pub params: BTreeMap<String, String>,
    /// Why it was refused, if it was.
    pub refused: Option<&'static str>,
}

#[derive(Default)]
struct Inner {
    /// temporary token -> (secret, callback, verifier, spent)
    temporary: HashMap<String, (String, String, String, bool)>,
    nonces: HashSet<String>,
    seen: Vec<Seen>,
    deny: bool,
    next: u32,
}

#[derive(Clone)]
pub struct OAuth1Provider {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl OAuth1Provider {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = Self { base, inner: Arc::default() };
        let app = Router::new()
            .route("/oauth/request", any(request_token))
            .route("/oauth/access", any(access_token))
            .route("/authorize", get(authorize))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        provider
    }

    pub fn request_token_url(&self) -> String {
        format!("{}/oauth/request", self.base)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base)
    }

    pub fn access_token_url(&self) -> String {
        format!("{}/oauth/access", self.base)
    }

    /// The user declines from now on.
    pub fn deny(&self) {
        self.inner.lock().unwrap().deny = true;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }
}

fn form(pairs: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    ([(header::CONTENT_TYPE, "application/x-www-form-urlencoded")], body).into_response()
}

/// The protocol parameters of a request (header, else query) and whether it is validly signed
/// with `token_secret` (looked up from the parameters).
fn check(
    p: &OAuth1Provider,
    endpoint: &'static str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    token_secret: impl Fn(&BTreeMap<String, String>) -> Option<String>,
) -> Result<BTreeMap<String, String>, StatusCode> {
    let url = Url::parse(&format!("{}{}", p.base, uri)).unwrap();
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_authorization_header);
    let in_header = header.is_some();
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let params = header.unwrap_or_else(|| query.clone());
    // Looked up before the lock: the lookup takes it itself.
    let secret = token_secret(&params);
    let mut inner = p.inner.lock().unwrap();
    let refuse = |why: &'static str, inner: &mut Inner| {
        inner.seen.push(Seen {
            endpoint,
            method: method.to_string(),
            in_header,
            params: params.clone(),
            refused: Some(why),
        });
        Err(StatusCode::UNAUTHORIZED)
    };
    if params.get("oauth_consumer_key").map(String::as_str) != Some(CONSUMER_KEY) {
        return refuse("consumer key", &mut inner);
    }
    if params.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA1")
        || params.get("oauth_version").is_some_and(|v| v != "1.0")
    {
        return refuse("signature method", &mut inner);
    }
    let now = chrono::Utc::now().timestamp();
    let fresh =
        params.get("oauth_timestamp").and_then(|t| t.parse::<i64>().ok()).is_some_and(|t| (now - t).abs() < 600);
    if !fresh {
        return refuse("timestamp", &mut inner);
    }
    let Some(nonce) = params.get("oauth_nonce").cloned() else { return refuse("nonce", &mut inner) };
    if !inner.nonces.insert(nonce) {
        return refuse("nonce reused", &mut inner);
    }
    let Some(secret) = secret else { return refuse("unknown token", &mut inner) };
    // The base string over what was received: the query (which holds the protocol parameters
    // on a GET) plus the header's parameters on a POST.
    let extra: Vec<(String, String)> = if in_header { params.clone().into_iter().collect() } else { Vec::new() };
    let base = base_string(method.as_str(), &url, &extra);
    let expected = signature(SignatureMethod::HmacSha1, &base, CONSUMER_SECRET, &secret);
    if params.get("oauth_signature") != Some(&expected) {
        return refuse("signature", &mut inner);
    }
    inner.seen.push(Seen { endpoint, method: method.to_string(), in_header, params: params.clone(), refused: None });
    Ok(params)
}

async fn request_token(State(p): State<OAuth1Provider>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let params = match check(&p, "request", &method, &uri, &headers, |_| Some(String::new())) {
        Ok(params) => params,
        Err(status) => return (status, "oauth_problem=signature_invalid").into_response(),
    };
    let Some(callback) = params.get("oauth_callback").cloned() else {
        return (StatusCode::BAD_REQUEST, "oauth_problem=parameter_absent").into_response();
    };
    let mut inner = p.inner.lock().unwrap();
    inner.next += 1;
    let n = inner.next;
    let (token, secret, verifier) = (format!("temp-{n}"), format!("temp-secret-{n}&x"), format!("verifier-{n}"));
    inner.temporary.insert(token.clone(), (secret.clone(), callback, verifier, false));
    form(&[("oauth_token", &token), ("oauth_token_secret", &secret), ("oauth_callback_confirmed", "true")])
}

async fn authorize(State(p): State<OAuth1Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    let inner = p.inner.lock().unwrap();
    let Some(token) = q.get("oauth_token") else { return StatusCode::BAD_REQUEST.into_response() };
    let Some((_, callback, verifier, _)) = inner.temporary.get(token) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut back = Url::parse(callback).unwrap();
    back.query_pairs_mut().append_pair("oauth_token", token);
    if !inner.deny {
        back.query_pairs_mut().append_pair("oauth_verifier", verifier);
    }
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn access_token(State(p): State<OAuth1Provider>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let secret_of = |params: &BTreeMap<String, String>| {
        let inner = p.inner.lock().unwrap();
        params.get("oauth_token").and_then(|t| inner.temporary.get(t)).map(|(s, ..)| s.clone())
    };
    let params = match check(&p, "access", &method, &uri, &headers, secret_of) {
        Ok(params) => params,
        Err(status) => return (status, "oauth_problem=signature_invalid").into_response(),
    };
    let mut inner = p.inner.lock().unwrap();
    let token = params.get("oauth_token").cloned().unwrap_or_default();
    let Some(entry) = inner.temporary.get_mut(&token) else { return StatusCode::UNAUTHORIZED.into_response() };
    if entry.3 || params.get("oauth_verifier") != Some(&entry.2) {
        return (StatusCode::UNAUTHORIZED, "oauth_problem=verifier_invalid").into_response();
    }
    entry.3 = true;
    let expires = (chrono::Utc::now().timestamp_millis() + 365 * 86_400_000).to_string();
    form(&[
        ("oauth_token", ACCESS_TOKEN),
        ("oauth_token_secret", ACCESS_SECRET),
        ("edam_shard", "s1"),
        ("edam_userId", "42"),
        ("edam_expires", &expires),
        ("edam_noteStoreUrl", NOTE_STORE),
    ])
}
