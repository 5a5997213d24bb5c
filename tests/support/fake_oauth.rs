//! An in-process OAuth 2.0 provider for tests: an axum server on `127.0.0.1:0`, one per test.
//!
//! * `GET /authorize` records the query it got and answers like a consent screen that the user
//!   approved (302 to `redirect_uri` with `code`, `state` and, when configured, `iss`) or denied
//!   (`error=access_denied`).
//! * `POST /token` answers each grant type with a programmable behaviour: success (optionally
//!   rotating refresh tokens), `invalid_grant`, a slow answer, a body that is not JSON, or JSON
//!   without `access_token`. It behaves like a real server where that matters: a code works once,
//!   only with the verifier of its challenge and the redirect URI it was issued for; a rotated
//!   refresh token stops working.
//! * Every token request is recorded (grant type, client authentication, form fields), so tests
//!   can count grants and check what authlink sent.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::{net::TcpListener, task::JoinHandle};
use url::Url;

/// What the consent screen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Approve,
    Deny,
}

/// How the token endpoint answers one grant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenBehaviour {
    /// A token set (`access_token`, `refresh_token`, `expires_in`), if the grant is valid.
    Success,
    /// `400 {"error":"invalid_grant"}` whatever was sent.
    InvalidGrant,
    /// Sleeps this long, then answers like `Success`.
    Slow(Duration),
    /// `200 text/html` that is not JSON.
    NotJson,
    /// `200 application/json` without `access_token`.
    NoAccessToken,
}

/// How the client authenticated at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthSeen {
    /// `Authorization: Basic` with the form-urldecoded id and secret.
    Basic {
        client_id: String,
        client_secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    Post {
        client_id: String,
        client_secret: String,
    },
    None,
}

/// One request to the token endpoint, as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_auth: ClientAuthSeen,
    /// The form body, without `client_secret`.
    pub form: HashMap<String, String>,
}

impl TokenRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str)
    }
}

/// A token set the provider issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub grant_type: String,
    pub access_token: String,
    /// `None` when the answer carried no refresh token (a refresh without rotation).
    pub refresh_token: Option<String>,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
}

struct Inner {
    consent: Consent,
    iss: Option<String>,
    code_grant: TokenBehaviour,
    refresh_grant: TokenBehaviour,
    rotate_refresh_tokens: bool,
    issue_refresh_tokens: bool,
    expires_in: i64,
    latency: Duration,
    authorize_requests: Vec<HashMap<String, String>>,
    token_requests: Vec<TokenRequest>,
    codes: HashMap<String, CodeGrant>,
    live_refresh_tokens: HashSet<String>,
    issued: Vec<Issued>,
    serial: u64,
    /// RFC 7009 requests: `(token_type_hint, token, client authentication as in token requests)`.
    revocations: Vec<(String, String, String)>,
    /// `sub` of the `id_token` token sets carry; `None`: no `id_token`.
    subject: Option<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake provider; stopped when dropped.
pub struct FakeOAuth {
    /// `http://127.0.0.1:<port>`, also the default `iss` it sends.
    pub base: String,
    inner: Shared,
    server: JoinHandle<()>,
}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        // Not a graceful shutdown: a slow answer may still be sleeping.
        self.server.abort();
    }
}

impl FakeOAuth {
    /// Starts a provider that approves, sends `iss` = its base URL, and issues token sets with
    /// `expires_in` 3600 and a refresh token, rotating it at each refresh.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake provider");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            consent: Consent::Approve,
            iss: Some(base.clone()),
            code_grant: TokenBehaviour::Success,
            refresh_grant: TokenBehaviour::Success,
            rotate_refresh_tokens: true,
            issue_refresh_tokens: true,
            expires_in: 3600,
            latency: Duration::ZERO,
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
            codes: HashMap::new(),
            live_refresh_tokens: HashSet::new(),
            issued: Vec::new(),
            serial: 0,
            revocations: Vec::new(),
            subject: None,
        }));
        let router = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the fake provider stopped");
        });
        Self { base, inner, server }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake provider state")
    }

    /// The RFC 7009 revocation endpoint (always answers 200, as the RFC says for any token).
    pub fn revocation_url(&self) -> String {
        format!("{}/revoke", self.base)
    }

    /// Every revocation request: `(token_type_hint, token, client authentication)`.
    pub fn revocations(&self) -> Vec<(String, String, String)> {
        self.lock().revocations.clone()
    }

    pub fn authorization_url(&self) -> String {
        format!("{}/authorize", self.base)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    pub fn set_consent(&self, consent: Consent) {
        self.lock().consent = consent;
    }

    /// The `iss` parameter of authorization responses; `None` sends none.
    pub fn set_iss(&self, iss: Option<&str>) {
        self.lock().iss = iss.map(str::to_owned);
    }

    pub fn set_code_grant(&self, behaviour: TokenBehaviour) {
        self.lock().code_grant = behaviour;
    }

    pub fn set_refresh_grant(&self, behaviour: TokenBehaviour) {
        self.lock().refresh_grant = behaviour;
    }

    /// Whether a refresh answer carries a new refresh token (and retires the one used).
    pub fn set_rotate_refresh_tokens(&self, rotate: bool) {
        self.lock().rotate_refresh_tokens = rotate;
    }

    /// Whether token sets carry a refresh token at all.
    pub fn set_issue_refresh_tokens(&self, issue: bool) {
        self.lock().issue_refresh_tokens = issue;
    }

    /// `expires_in` of the token sets issued from now on.
    pub fn set_expires_in(&self, seconds: i64) {
        self.lock().expires_in = seconds;
    }

    /// The user who signs in: token sets then carry an (unsigned) `id_token` with this `sub`.
    pub fn set_subject(&self, subject: Option<&str>) {
        self.lock().subject = subject.map(str::to_owned);
    }

    /// A delay before every successful token answer (to let concurrent callers pile up).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Every query `GET /authorize` received, oldest first.
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.lock().authorize_requests.clone()
    }

    /// Every token request received, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.lock().token_requests.clone()
    }

    /// How many token requests of this grant type arrived (answered or not).
    pub fn grants(&self, grant_type: &str) -> usize {
        self.lock().token_requests.iter().filter(|r| r.grant_type == grant_type).count()
    }

    /// Token sets issued, oldest first.
    pub fn issued(&self) -> Vec<Issued> {
        self.lock().issued.clone()
    }

    /// The last token set issued.
    #[track_caller]
    pub fn last_issued(&self) -> Issued {
        self.lock().issued.last().cloned().expect("the provider issued no tokens")
    }
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2), computed independently of authlink.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn authorize(State(inner): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut inner = inner.lock().expect("fake provider state");
    inner.authorize_requests.push(query.clone());
    let Some(mut redirect) = query.get("redirect_uri").and_then(|u| Url::parse(u).ok()) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri missing or not a URL").into_response();
    };
    {
        let mut q = redirect.query_pairs_mut();
        match inner.consent {
            Consent::Approve => {
                inner.serial += 1;
                let code = format!("code-{}-{}", inner.serial, random_suffix());
                inner.codes.insert(
                    code.clone(),
                    CodeGrant {
                        client_id: query.get("client_id").cloned().unwrap_or_default(),
                        redirect_uri: query["redirect_uri"].clone(),
                        challenge: query.get("code_challenge").cloned(),
                    },
                );
                q.append_pair("code", &code);
            }
            Consent::Deny => {
                q.append_pair("error", "access_denied");
                q.append_pair("error_description", "The user denied the request");
            }
        }
        if let Some(state) = query.get("state") {
            q.append_pair("state", state);
        }
        if let Some(iss) = &inner.iss {
            q.append_pair("iss", iss);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, redirect.to_string())]).into_response()
}

/// Some randomness so codes and tokens differ between test runs.
fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn client_auth(headers: &HeaderMap, form: &HashMap<String, String>) -> ClientAuthSeen {
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().unwrap().1.into_owned();
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        let (id, secret) = basic.split_once(':').unwrap_or((basic.as_str(), ""));
        return ClientAuthSeen::Basic { client_id: decode(id), client_secret: decode(secret) };
    }
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => ClientAuthSeen::Post { client_id: id.clone(), client_secret: secret.clone() },
        _ => ClientAuthSeen::None,
    }
}

fn oauth_error(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn revoke(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let auth = format!("{:?}", client_auth(&headers, &form));
    let mut inner = inner.lock().expect("fake provider state");
    let hint = form.get("token_type_hint").cloned().unwrap_or_default();
    let token = form.get("token").cloned().unwrap_or_default();
    inner.live_refresh_tokens.remove(&token);
    inner.revocations.push((hint, token, auth));
    StatusCode::OK.into_response()
}

async fn token(State(inner): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    let auth = client_auth(&headers, &form);
    let (behaviour, latency) = {
        let mut inner = inner.lock().expect("fake provider state");
        let mut recorded = form.clone();
        recorded.remove("client_secret");
        inner.token_requests.push(TokenRequest {
            grant_type: grant_type.clone(),
            client_auth: auth.clone(),
            form: recorded,
        });
        let behaviour = match grant_type.as_str() {
            "authorization_code" => inner.code_grant,
            "refresh_token" => inner.refresh_grant,
            _ => return oauth_error("unsupported_grant_type", "only authorization_code and refresh_token"),
        };
        (behaviour, inner.latency)
    };
    match behaviour {
        TokenBehaviour::InvalidGrant => return oauth_error("invalid_grant", "the grant is invalid or was revoked"),
        TokenBehaviour::NotJson => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>Service temporarily overloaded</body></html>",
            )
                .into_response();
        }
        TokenBehaviour::NoAccessToken => {
            return Json(json!({"token_type": "Bearer", "expires_in": 3600, "scope": "read"})).into_response();
        }
        TokenBehaviour::Slow(delay) => tokio::time::sleep(delay).await,
        TokenBehaviour::Success => {}
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let client_id = match &auth {
        ClientAuthSeen::Basic { client_id, .. } | ClientAuthSeen::Post { client_id, .. } => client_id.clone(),
        ClientAuthSeen::None => return oauth_error("invalid_client", "no client authentication"),
    };

    let mut inner = inner.lock().expect("fake provider state");
    let keep_refresh_token = match grant_type.as_str() {
        "authorization_code" => {
            let Some(grant) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
                return oauth_error("invalid_grant", "unknown or already used code");
            };
            if grant.client_id != client_id {
                return oauth_error("invalid_grant", "code issued to another client");
            }
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error("invalid_grant", "redirect_uri differs from the authorization request's");
            }
            if let Some(challenge) = &grant.challenge {
                if form.get("code_verifier").map(|v| s256(v)).as_ref() != Some(challenge) {
                    return oauth_error("invalid_grant", "code_verifier does not match the code_challenge");
                }
            }
            false
        }
        _ => {
            let Some(presented) = form.get("refresh_token") else {
                return oauth_error("invalid_request", "refresh_token missing");
            };
            if !inner.live_refresh_tokens.contains(presented) {
                return oauth_error("invalid_grant", "unknown or rotated refresh token");
            }
            if inner.rotate_refresh_tokens {
                inner.live_refresh_tokens.remove(presented);
                false
            } else {
                true
            }
        }
    };
    inner.serial += 1;
    let n = inner.serial;
    let access_token = format!("at-{n}-{}", random_suffix());
    let refresh_token =
        (inner.issue_refresh_tokens && !keep_refresh_token).then(|| format!("rt-{n}-{}", random_suffix()));
    if let Some(rt) = &refresh_token {
        inner.live_refresh_tokens.insert(rt.clone());
    }
    inner.issued.push(Issued {
        grant_type: grant_type.clone(),
        access_token: access_token.clone(),
        refresh_token: refresh_token.clone(),
    });
    let mut body = json!({"access_token": access_token, "token_type": "Bearer", "expires_in": inner.expires_in,
                          "scope": "read write"});
    if let Some(rt) = refresh_token {
        body["refresh_token"] = rt.into();
    }
    if let Some(subject) = &inner.subject {
        use base64::Engine;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = json!({"sub": subject, "iss": "fake", "aud": "client"});
        body["id_token"] = format!("{}.{}.unsigned", b64(json!({"alg": "none"})), b64(claims)).into();
    }
    Json(body).into_response()
}
