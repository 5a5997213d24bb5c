//! OAuth with connection fields (issue 15, "the subdomain step of an OAuth flow"), on both stores:
//! a toolkit whose endpoints are `https://{subdomain}.tenant-idp.example/…` gets the hosted form;
//! a valid tenant sends the browser to that tenant's authorization URL (state, PKCE and binding
//! as with Continue), the callback exchanges the code for that tenant (its issuer is the
//! tenant's origin, so a mix-up `iss` of another tenant fails), refreshes and the provider built
//! for the account use the stored fields, which are sealed at rest; bad values store nothing, and
//! the form is single use.
//!
//! The token endpoint itself is the in-process fake provider (plain http on 127.0.0.1, named by
//! the auth config's `token_url`): a templated endpoint must be https, which no local test server
//! here can serve with a certificate authlink trusts. What the fields fill in is checked on the
//! authorization URL, the expected issuer and the provider [`provider_for_account`] builds.

use std::{collections::HashMap, path::PathBuf};

use authlink::{
    catalog::Catalog,
    config::EncryptionKey,
    crypto::{Sealer, sha256},
    domain::ConnectedAccountId,
    outbound::OutboundPolicy,
    service::{
        context::{ServiceContext, Settings},
        oauth_fields::{self, provider_for_account},
    },
    store::ProjectId,
};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use url::Url;

use crate::{
    db::NO_ARGS,
    fake_oauth::{FakeOAuth, s256},
    helpers::TestApp,
    link_form::{Opened, Posted, open, submit},
};

/// A tenant name distinctive enough that finding it in a dump means it was stored in clear.
const TENANT: &str = "tenant-q7x2kz9m";
const OTHER_TENANT: &str = "other-w3v8pj4r";

const CATALOG: &str = r#"
toolkits:
  - slug: tenant_idp
    name: Tenant IdP
    categories: [analytics]
    description: An OAuth provider with one host per tenant.
    source: https://tenant-idp.example/docs/oauth
    authorization_url: https://{subdomain}.tenant-idp.example/oauth/authorize
    token_url: https://{subdomain}.tenant-idp.example/oauth/token
    revocation_url: https://{subdomain}.tenant-idp.example/oauth/revoke
    default_scopes: [read]
    scope_separator: " "
    pkce: true
    client_auth: client_secret_basic
    fields:
      - name: subdomain
        display_name: Your tenant
        description: "The first part of your sign-in address: the acme of acme.tenant-idp.example."
        pattern: "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
"#;

fn catalog_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authlink_oauth_fields_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tenant.yaml"), CATALOG).unwrap();
    dir
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

fn tenant_origin(tenant: &str) -> String {
    format!("https://{tenant}.tenant-idp.example")
}

struct Tenanted {
    app: TestApp,
    idp: FakeOAuth,
    dir: PathBuf,
    project: ProjectId,
    session: String,
}

impl Tenanted {
    async fn start() -> Self {
        let idp = FakeOAuth::start().await;
        let dir = catalog_dir();
        let app = TestApp::builder().catalog_dir(&dir).endpoint_allowlist(&idp.base).spawn().await;
        let config = app.create_auth_config_with(&app.api(), "tenant_idp", json!({"token_url": idp.token_url()})).await;
        let session = app.create_session(json!({"user_id": "u1", "auth_configs": {"tenant_idp": config}})).await;
        let (project, _) = app.store.project_for_key(&sha256(&app.api_key)).await.unwrap().expect("project");
        Self { app, idp, dir, project, session }
    }

    /// A new link: `(redirect_url, connected_account_id)`.
    async fn link(&self, body: Value) -> (String, String) {
        let r = self.app.link(&self.session, body).await;
        let body = r.expect(201, "link");
        (body["redirect_url"].as_str().unwrap().to_owned(), body["connected_account_id"].as_str().unwrap().to_owned())
    }

    async fn new_link(&self) -> (String, String) {
        self.link(json!({"toolkit": "tenant_idp", "callback_url": "https://app.example.com/cb?from=t"})).await
    }

    /// The provider's side of a sign-in that went to `authorize` (authlink's redirect): the fake
    /// approves and sends the browser back to authlink's callback, which this browser (with the
    /// link's binding cookie) follows once. Returns authlink's answer.
    async fn consent(&self, authorize: &Url, opened: &Opened, iss: Option<&str>) -> Posted {
        self.idp.set_iss(iss);
        let at_fake = format!("{}/authorize?{}", self.idp.base, authorize.query().unwrap());
        let back = browser().get(at_fake).send().await.unwrap();
        assert_eq!(back.status(), 302, "the fake provider approves");
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(callback.starts_with(&self.app.public), "{callback}");
        let r = browser().get(&callback).header("cookie", &opened.cookie).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        Posted { status, location, html: r.text().await.unwrap() }
    }

    async fn account(&self, id: &str) -> Value {
        self.app.get(&format!("connected_accounts/{id}")).await.expect(200, "account").clone()
    }

    async fn stored_fields(&self, id: &str) -> Option<String> {
        self.app.store.account_fields(self.project, &ConnectedAccountId::parse(id).unwrap()).await.unwrap()
    }

    /// A service context on the test server's database, catalog and key.
    fn context(&self) -> ServiceContext {
        let settings = Settings {
            public_base: self.app.public.clone(),
            link_ttl: std::time::Duration::from_secs(600),
            callback_allowlist: "https://app.example.com".parse().unwrap(),
            outbound: OutboundPolicy::new(self.idp.base.parse().unwrap(), false),
            link_url_allowlist: "".parse().unwrap(),
            mcp_allowed_origins: "http://127.0.0.1:6274".parse().unwrap(),
        };
        ServiceContext::new(
            self.app.store.clone(),
            Catalog::load(Some(&self.dir)).unwrap(),
            Sealer::new(&EncryptionKey([7u8; 32]), &[]),
            settings,
        )
    }

    async fn cleanup(self) {
        self.app.cleanup().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[track_caller]
fn redirect_to_tenant(posted: &Posted, tenant: &str) -> Url {
    assert_eq!(posted.status, 302, "{}", posted.html);
    let url = Url::parse(posted.location.as_deref().unwrap()).unwrap();
    assert_eq!(url.origin().ascii_serialization(), tenant_origin(tenant), "{url}");
    assert_eq!(url.path(), "/oauth/authorize");
    url
}

#[track_caller]
fn landed(posted: &Posted, status: &str, account: &str) -> HashMap<String, String> {
    assert_eq!(posted.status, 302, "{}", posted.html);
    let url = Url::parse(posted.location.as_deref().unwrap()).unwrap();
    assert_eq!((url.host_str(), url.path()), (Some("app.example.com"), "/cb"), "{url}");
    let q = query(&url);
    assert_eq!(q["status"], status, "{q:?}");
    assert_eq!(q["connected_account_id"], account);
    q
}

/// The whole flow: form → the tenant's authorization URL → callback → ACTIVE; the code was
/// exchanged once with its PKCE verifier; a refresh works from the stored fields; the provider
/// built for the account has every endpoint on the tenant's host; nothing is in clear.
#[tokio::test]
async fn the_form_continues_to_the_tenant_and_the_account_keeps_its_fields() {
    let t = Tenanted::start().await;
    let (url, id) = t.new_link().await;
    let opened = open(&url).await;
    assert_eq!(
        opened.csp,
        "default-src 'self'; frame-ancestors 'none'; form-action 'self' https://*.tenant-idp.example https://app.example.com"
    );
    assert!(opened.html.contains("<button type=\"submit\">Continue to Tenant IdP</button>"), "{}", opened.html);

    let posted = submit(&url, &opened, &[("subdomain", TENANT)]).await;
    let authorize = redirect_to_tenant(&posted, TENANT);
    let q = query(&authorize);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-tenant_idp");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 43, "a 256-bit state");
    assert!(q["redirect_uri"].starts_with(&format!("{}/oauth/callback", t.app.public)), "{q:?}");
    assert_eq!(t.account(&id).await["status"], "INITIATED");
    assert!(t.stored_fields(&id).await.is_some(), "the fields are on the account before the redirect");

    // The provider's `iss` is the tenant's origin: the issuer authlink expects comes from the
    // authorization URL the fields filled in.
    let back = t.consent(&authorize, &opened, Some(&tenant_origin(TENANT))).await;
    landed(&back, "success", &id);
    let account = t.account(&id).await;
    assert_eq!(account["status"], "ACTIVE", "{account}");
    let issued = t.idp.last_issued();
    assert_eq!(account["state"]["val"]["access_token"], issued.access_token);
    let exchange = t.idp.token_requests().into_iter().find(|r| r.grant_type == "authorization_code").unwrap();
    assert_eq!(exchange.field("code_verifier").map(s256).as_deref(), Some(q["code_challenge"].as_str()));
    assert_eq!(t.idp.grants("authorization_code"), 1);

    // A forced refresh builds the provider from the stored fields (without them the templated
    // endpoints could not be filled in and the refresh could not start).
    let r = t.app.post(&format!("connected_accounts/{id}/refresh"), json!({})).await;
    r.expect(200, "refresh");
    assert_eq!(t.idp.grants("refresh_token"), 1);
    let refreshed = t.account(&id).await;
    assert_eq!(refreshed["state"]["val"]["access_token"], t.idp.last_issued().access_token);

    // The provider of the account, as the refreshes and the revocation build it: the auth
    // config's token URL wins; without it every endpoint is the tenant's.
    let ctx = t.context();
    let account_id = ConnectedAccountId::parse(&id).unwrap();
    let mut ac = t
        .app
        .store
        .auth_config(
            t.project,
            &authlink::domain::AuthConfigId::parse(account["auth_config"]["id"].as_str().unwrap()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let p = provider_for_account(&ctx, t.project, &account_id, &ac).await.unwrap();
    assert_eq!(p.token_url, t.idp.token_url());
    assert_eq!(p.issuer, tenant_origin(TENANT));
    ac.token_url = None;
    let p = provider_for_account(&ctx, t.project, &account_id, &ac).await.unwrap();
    assert_eq!(p.authorization_url, format!("{}/oauth/authorize", tenant_origin(TENANT)));
    assert_eq!(p.token_url, format!("{}/oauth/token", tenant_origin(TENANT)));
    assert_eq!(p.revocation_url, Some(format!("{}/oauth/revoke", tenant_origin(TENANT))));

    // Sealed at rest: the tenant's name appears nowhere in the database, and the sealed value
    // opens (with the account id as associated data) to exactly the form's values.
    let dump = t.app.dump().await;
    assert!(!dump.contains(TENANT), "the tenant is stored in clear");
    let sealed = t.stored_fields(&id).await.unwrap();
    let values = oauth_fields::open(&ctx, &account_id, &sealed).unwrap();
    assert_eq!(values, [("subdomain".to_owned(), TENANT.to_owned())].into());
    let (_, other) = t.new_link().await;
    let other = ConnectedAccountId::parse(&other).unwrap();
    assert!(oauth_fields::open(&ctx, &other, &sealed).is_err(), "bound to its account");

    // Single use: the same form again, and Continue, say the link was used.
    let again = submit(&url, &opened, &[("subdomain", TENANT)]).await;
    assert_eq!(again.status, 410, "{}", again.html);
    assert!(again.html.contains("This link was already used"), "{}", again.html);
    assert_eq!(t.idp.authorize_requests().len(), 1);
    t.cleanup().await;
}

/// A mix-up: the provider answers with another tenant's issuer. The code is never exchanged and
/// the account fails.
#[tokio::test]
async fn another_tenants_issuer_fails_the_sign_in() {
    let t = Tenanted::start().await;
    let (url, id) = t.new_link().await;
    let opened = open(&url).await;
    let authorize = redirect_to_tenant(&submit(&url, &opened, &[("subdomain", TENANT)]).await, TENANT);
    let back = t.consent(&authorize, &opened, Some(&tenant_origin(OTHER_TENANT))).await;
    let q = landed(&back, "failed", &id);
    assert_eq!(q["error"], "invalid_issuer");
    assert_eq!(t.idp.grants("authorization_code"), 0, "no code exchanged");
    assert_eq!(t.account(&id).await["status"], "FAILED");
    t.cleanup().await;
}

/// Case, posted pairs, the rule the error names.
type BadCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// Table: values a template refuses come back inline (400), and nothing is stored: no fields on
/// the account, no OAuth state, no request to the provider; the link still works afterwards.
#[tokio::test]
async fn bad_values_store_nothing() {
    let t = Tenanted::start().await;
    let (url, id) = t.new_link().await;
    let opened = open(&url).await;
    let long = "a".repeat(64);
    let cases: [BadCase<'_>; 8] = [
        ("path breaker", &[("subdomain", "evil.com/")], "This does not match the expected format."),
        ("dot", &[("subdomain", "a.b")], "This does not match the expected format."),
        ("fragment", &[("subdomain", "acme#")], "This does not match the expected format."),
        ("user info", &[("subdomain", "x@evil")], "This does not match the expected format."),
        ("port", &[("subdomain", "acme:443")], "This does not match the expected format."),
        ("too long a label", &[("subdomain", &long)], "This does not match the expected format."),
        ("missing", &[], "This field is needed."),
        ("control character", &[("subdomain", "ac\u{7}me")], "This contains control characters."),
    ];
    for (case, pairs, rule) in cases {
        let posted = submit(&url, &opened, pairs).await;
        assert_eq!(posted.status, 400, "{case}: {}", posted.html);
        assert!(posted.html.contains(rule), "{case}: `{rule}`: {}", posted.html);
        assert!(posted.location.is_none(), "{case}");
        assert_eq!(t.stored_fields(&id).await, None, "{case}: no fields stored");
        let states: i64 = t.app.db.scalar("select count(*) from oauth_state", NO_ARGS).await;
        assert_eq!(states, 0, "{case}: no sign-in started");
        assert_eq!(t.account(&id).await["status"], "INITIATED", "{case}");
    }
    assert!(t.idp.authorize_requests().is_empty());
    redirect_to_tenant(&submit(&url, &opened, &[("subdomain", TENANT)]).await, TENANT);
    t.cleanup().await;
}

/// Posted twice before signing in (another tenant in a second tab): each post starts its own
/// sign-in, and the one that completes decides the account's fields, whatever was posted
/// last; the other sign-in then finds the link used, and no form is accepted any more.
#[tokio::test]
async fn twice_posted_forms_complete_once_with_the_completed_tenant() {
    let t = Tenanted::start().await;
    let (url, id) = t.new_link().await;
    let opened = open(&url).await;
    let first = redirect_to_tenant(&submit(&url, &opened, &[("subdomain", TENANT)]).await, TENANT);
    let second = redirect_to_tenant(&submit(&url, &opened, &[("subdomain", OTHER_TENANT)]).await, OTHER_TENANT);
    assert_ne!(query(&first)["state"], query(&second)["state"]);

    let back = t.consent(&first, &opened, Some(&tenant_origin(TENANT))).await;
    landed(&back, "success", &id);
    let ctx = t.context();
    let account_id = ConnectedAccountId::parse(&id).unwrap();
    let values = oauth_fields::open(&ctx, &account_id, &t.stored_fields(&id).await.unwrap()).unwrap();
    assert_eq!(values["subdomain"], TENANT, "the completed sign-in's tenant, not the last posted");

    let late = t.consent(&second, &opened, Some(&tenant_origin(OTHER_TENANT))).await;
    assert_eq!(late.status, 410, "{}", late.html);
    assert!(late.html.contains("This link was already used"), "{}", late.html);
    let values = oauth_fields::open(&ctx, &account_id, &t.stored_fields(&id).await.unwrap()).unwrap();
    assert_eq!(values["subdomain"], TENANT);
    let again = submit(&url, &opened, &[("subdomain", OTHER_TENANT)]).await;
    assert_eq!(again.status, 410, "{}", again.html);
    let values = oauth_fields::open(&ctx, &account_id, &t.stored_fields(&id).await.unwrap()).unwrap();
    assert_eq!(values["subdomain"], TENANT, "a late post changes nothing");
    t.cleanup().await;
}

/// A reconnect keeps the tenant the tokens belong to: the same tenant goes on to the provider,
/// another one comes back as the field's error, and nothing changes.
#[tokio::test]
async fn a_reconnect_keeps_the_accounts_tenant() {
    let t = Tenanted::start().await;
    let (url, id) = t.new_link().await;
    let opened = open(&url).await;
    let authorize = redirect_to_tenant(&submit(&url, &opened, &[("subdomain", TENANT)]).await, TENANT);
    landed(&t.consent(&authorize, &opened, Some(&tenant_origin(TENANT))).await, "success", &id);
    let before = t.stored_fields(&id).await.unwrap();

    let (again, same) = t
        .link(json!({"toolkit": "tenant_idp", "callback_url": "https://app.example.com/cb?from=t",
                     "connected_account_id": id}))
        .await;
    assert_eq!(same, id, "a reconnect link of the same account");
    let reopened = open(&again).await;
    let posted = submit(&again, &reopened, &[("subdomain", OTHER_TENANT)]).await;
    assert_eq!(posted.status, 400, "{}", posted.html);
    assert!(posted.html.contains("must stay the one this account was connected with"), "{}", posted.html);
    assert_eq!(t.stored_fields(&id).await.unwrap(), before, "unchanged");
    let authorize = redirect_to_tenant(&submit(&again, &reopened, &[("subdomain", TENANT)]).await, TENANT);
    landed(&t.consent(&authorize, &reopened, Some(&tenant_origin(TENANT))).await, "success", &id);
    assert_eq!(t.account(&id).await["status"], "ACTIVE");
    t.cleanup().await;
}
