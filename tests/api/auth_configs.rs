//! `auth_configs`: create, retrieve, list (contract §8).

use serde_json::{Value, json};

use crate::db::NO_ARGS;
use crate::helpers::{
    CLIENT_SECRET, TestApp, assert_error, assert_error_ctx, error_text, ids, is_id, spawn_app, timestamp, unknown_id,
};

fn custom(toolkit: &str, credentials: Value) -> Value {
    let mut body = json!({"toolkit": {"slug": toolkit},
                          "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "name": "GitHub (mine)"}});
    body["auth_config"]["credentials"] = credentials;
    body
}

/// Asserts that no key named `client_secret` appears anywhere in a document.
fn assert_no_secret_key(v: &Value, at: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                assert!(k != "client_secret", "client_secret returned at {at}.{k}");
                assert_no_secret_key(child, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, c)| assert_no_secret_key(c, &format!("{at}[{i}]")));
        }
        _ => {}
    }
}

#[tokio::test]
async fn create_returns_the_contract_shape() {
    let app = spawn_app().await;
    let r = app
        .post(
            "auth_configs",
            custom(
                "GitHub",
                json!({"client_id": "Iv1.abc", "client_secret": CLIENT_SECRET, "scopes": ["repo", "read:user"]}),
            ),
        )
        .await;
    let body = r.expect(201, "create").clone();
    assert_eq!(body["toolkit"], json!({"slug": "github"}));
    assert!(is_id(&body["auth_config"]["id"], "ac_"), "{body}");
    assert_eq!(body["auth_config"]["auth_scheme"], "OAUTH2");
    assert_eq!(body["auth_config"]["is_composio_managed"], false);
    assert!(!r.text.contains(CLIENT_SECRET));

    // Unknown keys are ignored.
    let mut body = custom("github", json!({"client_id": "x", "client_secret": CLIENT_SECRET, "user_scopes": ["a"]}));
    body["auth_config"]["tool_access_config"] = json!({"tools_for_connected_account_creation": []});
    body["auth_config"]["restrict_to_following_tools"] = json!([]);
    body["future"] = json!(1);
    app.post("auth_configs", body).await.expect(201, "unknown keys");

    // The v3 path, and scopes as a joined string.
    let r = app
        .v3()
        .post(
            "auth_configs",
            custom(
                "slack",
                json!({"client_id": "x", "client_secret": CLIENT_SECRET, "scopes": "chat:write,channels:read"}),
            ),
        )
        .await;
    let id = r.expect(201, "v3 create")["auth_config"]["id"].as_str().unwrap().to_owned();
    let got = app.get(&format!("auth_configs/{id}")).await;
    assert_eq!(got.expect(200, "get")["credentials"]["scopes"], json!(["chat:write", "channels:read"]));
    app.cleanup().await;
}

#[tokio::test]
async fn get_returns_the_contract_fields_and_never_the_secret() {
    let app = spawn_app().await;
    let r = app
        .post(
            "auth_configs",
            custom("github", json!({"client_id": "Iv1.abc", "client_secret": CLIENT_SECRET, "scopes": ["repo"]})),
        )
        .await;
    let id = r.expect(201, "create")["auth_config"]["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("auth_configs/{id}")).await;
    let c = r.expect(200, "get").clone();
    assert_eq!(c["id"], id);
    assert_eq!(c["name"], "GitHub (mine)");
    assert_eq!(c["no_of_connections"], 0);
    assert_eq!(c["status"], "ENABLED");
    assert_eq!(c["toolkit"]["slug"], "github");
    assert!(c["toolkit"]["logo"].is_string(), "toolkit.logo must be present: {}", c["toolkit"]);
    assert!(c["type"] == "default" || c["type"] == "custom", "type {}", c["type"]);
    uuid::Uuid::parse_str(c["uuid"].as_str().expect("uuid")).expect("uuid is a UUID");
    assert!(c["tool_access_config"].is_object());
    assert_eq!(c["credentials"]["client_id"], "Iv1.abc");
    assert_eq!(c["auth_scheme"], "OAUTH2");
    assert_eq!(c["is_composio_managed"], false);
    timestamp(&c["created_at"]);
    assert_no_secret_key(&c, "");
    assert!(!r.text.contains(CLIENT_SECRET), "the secret is returned");
    let sealed: String = app.db.scalar("select client_secret_sealed from auth_config where id = $1", [&id]).await;
    assert!(!r.text.contains(&sealed), "the sealed secret is returned: {}", r.text);

    // The uuid is stable.
    let again = app.get(&format!("auth_configs/{id}")).await;
    assert_eq!(again.body["uuid"], c["uuid"]);

    // no_of_connections counts live accounts.
    let s = app.create_session(json!({"user_id": "u"})).await;
    app.link_ok(&s, json!({"toolkit": "github"})).await;
    app.link_ok(&s, json!({"toolkit": "github"})).await;
    let r = app.get(&format!("auth_configs/{id}")).await;
    assert_eq!(r.expect(200, "get")["no_of_connections"], 2);

    // Unknown and malformed ids.
    let r = app.get(&format!("auth_configs/{}", unknown_id("ac_"))).await;
    assert_error(&r, 404, "AuthConfig_NotFound");
    for bad in ["nope", "ac_short", "ca_Zz9Yy8Xx7Ww6"] {
        let r = app.get(&format!("auth_configs/{bad}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", bad);
    }
    app.cleanup().await;
}

async fn create_n(app: &TestApp, toolkit: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(app.create_auth_config(toolkit).await);
    }
    out
}

#[tokio::test]
async fn list_filters_by_toolkit_and_paginates_newest_first() {
    let app = spawn_app().await;
    let github = create_n(&app, "github", 3).await;
    let slack = create_n(&app, "slack", 1).await;

    let list = app.get("auth_configs").await.expect(200, "list").clone();
    assert_eq!(list["total_items"], 4);
    assert_no_secret_key(&list, "");

    let list = app.get("auth_configs?toolkit_slug=slack").await.expect(200, "slack").clone();
    assert_eq!(ids(&list), slack);
    let list = app.get("auth_configs?toolkit_slug=GitHub").await.expect(200, "GitHub").clone();
    assert_eq!(list["total_items"], 3);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=2 {
        let path = match &cursor {
            Some(c) => format!("auth_configs?toolkit_slug=github&limit=2&cursor={c}"),
            None => "auth_configs?toolkit_slug=github&limit=2".to_owned(),
        };
        let list = app.get(&path).await.expect(200, &path).clone();
        assert_eq!(list["total_items"], 3, "{path}");
        assert_eq!(list["total_pages"], 2, "{path}");
        assert_eq!(list["current_page"], page, "{path}");
        seen.extend(ids(&list));
        cursor = list["next_cursor"].as_str().map(str::to_owned);
        assert_eq!(cursor.is_some(), page == 1, "{path}: next_cursor {}", list["next_cursor"]);
    }
    let mut newest_first = github.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // is_composio_managed: every authlink config is custom.
    let list = app.get("auth_configs?is_composio_managed=false").await.expect(200, "custom").clone();
    assert_eq!(list["total_items"], 4);
    let list = app.get("auth_configs?is_composio_managed=true").await.expect(200, "managed").clone();
    assert_eq!(list["total_items"], 0);

    // Disabled configs (no API yet, so via SQL) are hidden unless show_disabled=true.
    app.db.execute("update auth_config set is_enabled = false where id = $1", [&slack[0]]).await;
    let list = app.get("auth_configs").await.expect(200, "without disabled").clone();
    assert_eq!(list["total_items"], 3);
    assert!(!ids(&list).contains(&slack[0]));
    let list = app.get("auth_configs?show_disabled=true").await.expect(200, "with disabled").clone();
    assert_eq!(list["total_items"], 4);
    let r = app.get(&format!("auth_configs/{}", slack[0])).await;
    assert_eq!(r.expect(200, "get disabled")["status"], "DISABLED");

    // Empty values are absent; bad values are 400.
    let list = app.get("auth_configs?toolkit_slug=&limit=&cursor=").await.expect(200, "empty values").clone();
    assert_eq!(list["total_items"], 3);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=nope!", "cursor"),
        ("toolkit_slug=a%20b", "toolkit_slug"),
    ] {
        let r = app.get(&format!("auth_configs?{query}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", query);
        assert!(error_text(&r).contains(field), "[{query}] {}", r.text);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_create_bodies_are_400() {
    let app = spawn_app().await;
    let creds = json!({"client_id": "id", "client_secret": CLIENT_SECRET});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "use_composio_managed_auth",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_composio_managed_auth"}}),
            "use_custom_auth",
        ),
        ("no auth_config (managed default)", json!({"toolkit": {"slug": "github"}}), "use_custom_auth"),
        (
            "authScheme API_KEY",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "API_KEY", "credentials": creds}}),
            "authScheme",
        ),
        (
            "authScheme missing",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "credentials": creds}}),
            "authScheme",
        ),
        ("missing client_secret", custom("github", json!({"client_id": "id"})), "client_secret"),
        ("empty client_secret", custom("github", json!({"client_id": "id", "client_secret": ""})), "client_secret"),
        ("missing client_id", custom("github", json!({"client_secret": CLIENT_SECRET})), "client_id"),
        (
            "missing credentials",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2"}}),
            "credentials",
        ),
        ("unknown toolkit without URLs", custom("acme_crm", creds.clone()), "authorization_url"),
        (
            "unknown toolkit with only a token URL",
            custom(
                "acme_crm",
                json!({"client_id": "id", "client_secret": "x", "token_url": "https://acme.example/token"}),
            ),
            "authorization_url",
        ),
        (
            "http token_url on a public host",
            custom(
                "acme_crm",
                json!({"client_id": "id", "client_secret": "x",
                                      "authorization_url": "https://acme.example/authorize",
                                      "token_url": "http://acme.example/token"}),
            ),
            "token_url",
        ),
        (
            "http authorization_url on a public host",
            custom(
                "github",
                json!({"client_id": "id", "client_secret": "x",
                                    "authorization_url": "http://github.example/authorize"}),
            ),
            "authorization_url",
        ),
        (
            "token_url not a URL",
            custom("github", json!({"client_id": "id", "client_secret": "x", "token_url": "token"})),
            "token_url",
        ),
        ("bad toolkit slug", custom("git hub", creds.clone()), "toolkit.slug"),
        (
            "missing toolkit",
            json!({"auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": creds}}),
            "toolkit",
        ),
        ("toolkit as a string", json!({"toolkit": "github"}), "toolkit"),
    ];
    // Bodies that parse and validate but ask for what authlink cannot do are AuthConfig_BadRequest;
    // malformed or invalid fields are the generic ToolRouterV2_BadRequest.
    let unsupported =
        ["no auth_config (managed default)", "unknown toolkit without URLs", "unknown toolkit with only a token URL"];
    for (case, body, needle) in cases {
        let r = app.post("auth_configs", body).await;
        let slug = if unsupported.contains(&case) { "AuthConfig_BadRequest" } else { "ToolRouterV2_BadRequest" };
        assert_error_ctx(&r, 400, slug, case);
        assert!(error_text(&r).contains(needle), "[{case}] should mention {needle:?}: {}", r.text);
    }
    let count: i64 = app.db.scalar("select count(*) from auth_config", NO_ARGS).await;
    assert_eq!(count, 0, "a refused create wrote a row");

    app.cleanup().await;
}

/// The origin the endpoint tests allowlist, like the test suites' local providers.
const ALLOWLISTED: &str = "http://127.0.0.1:9000";

/// Issue 11: endpoint URLs that could reach the operator's own network, or are not https, are
/// refused when the auth config is created, with a 400 naming the field; the allowlisted origin
/// (and only it: not another port or scheme of the same host) passes.
#[tokio::test]
async fn endpoints_that_could_reach_internal_addresses_are_refused_at_create() {
    let app = TestApp::builder().endpoint_allowlist(ALLOWLISTED).spawn().await;
    // (URL, expected words of the message)
    let refused: &[(&str, &str)] = &[
        ("http://127.0.0.1/x", "https"),
        ("https://127.0.0.1/x", "address"),
        ("https://127.1.2.3:9000/x", "address"),
        ("https://localhost/x", "localhost"),
        ("https://api.localhost/x", "localhost"),
        ("https://169.254.169.254/latest/meta-data/", "address"),
        ("https://[::1]/", "address"),
        ("https://[::ffff:127.0.0.1]/", "address"),
        ("https://[fd00::1]/", "address"),
        ("https://[fe80::1]/", "address"),
        ("https://10.0.0.1/", "address"),
        ("https://192.168.1.1/", "address"),
        ("https://172.16.0.1/", "address"),
        ("https://0.0.0.0/", "address"),
        ("https://224.0.0.1/", "address"),
        ("http://example.com/", "https"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("https://metadata.google.internal./", "metadata"),
        ("https://user:pw@idp.example.com/token", "user name"),
        ("https://idp.example.com@127.0.0.1/token", "user name"),
        ("http://127.0.0.1:9001/token", "https"),
        ("https://127.0.0.1:9000/token", "address"),
        ("ftp://idp.example.com/token", "https"),
        ("token", "URL"),
    ];
    for field in ["token_url", "authorization_url"] {
        for (url, words) in refused {
            let case = format!("{field} = {url}");
            let r = app
                .post("auth_configs", custom("github", json!({"client_id": "id", "client_secret": "x", field: url})))
                .await;
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            let text = error_text(&r);
            assert!(text.contains(&format!("auth_config.credentials.{field}")), "[{case}] names the field: {text}");
            assert!(text.contains(words), "[{case}] should say {words:?}: {text}");
        }
    }
    let count: i64 = app.db.scalar("select count(*) from auth_config", NO_ARGS).await;
    assert_eq!(count, 0, "a refused create wrote a row");

    for (case, credentials) in [
        (
            "the allowlisted origin, plain http",
            json!({"authorization_url": format!("{ALLOWLISTED}/auth"), "token_url": format!("{ALLOWLISTED}/token")}),
        ),
        (
            "public https hosts",
            json!({"authorization_url": "https://idp.example.com/auth", "token_url": "https://idp.example.com:8443/t"}),
        ),
    ] {
        let mut credentials = credentials;
        credentials["client_id"] = "id".into();
        credentials["client_secret"] = "x".into();
        app.post("auth_configs", custom("local_idp", credentials)).await.expect(201, case);
    }
    app.cleanup().await;
}

/// `AUTHLINK_TENANT_ENDPOINTS=forbidden`: catalog endpoints only. Any endpoint field is a 400
/// naming it, even a public or allowlisted one; a catalog toolkit without them is fine; a toolkit
/// outside the catalog cannot be configured at all.
#[tokio::test]
async fn with_tenant_endpoints_forbidden_every_endpoint_field_is_refused() {
    let app = TestApp::builder().endpoint_allowlist(ALLOWLISTED).tenant_endpoints_forbidden().spawn().await;
    for field in ["token_url", "authorization_url"] {
        for url in ["https://idp.example.com/x", &format!("{ALLOWLISTED}/x")] {
            let case = format!("{field} = {url}");
            let r = app
                .post("auth_configs", custom("github", json!({"client_id": "id", "client_secret": "x", field: url})))
                .await;
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            let text = error_text(&r);
            assert!(text.contains(&format!("auth_config.credentials.{field}")), "[{case}] names the field: {text}");
            assert!(text.contains("catalog"), "[{case}] says why: {text}");
        }
    }
    let r = app.post("auth_configs", custom("acme_crm", json!({"client_id": "id", "client_secret": "x"}))).await;
    assert_error_ctx(&r, 400, "AuthConfig_BadRequest", "unknown toolkit, catalog only");
    assert!(error_text(&r).contains("catalog"), "{}", r.text);
    let count: i64 = app.db.scalar("select count(*) from auth_config", NO_ARGS).await;
    assert_eq!(count, 0, "a refused create wrote a row");

    app.post("auth_configs", custom("github", json!({"client_id": "id", "client_secret": "x"})))
        .await
        .expect(201, "catalog toolkit without endpoint fields");
    app.cleanup().await;
}

/// Issue 11 item 8(b): an `authorization_url` carrying a parameter authlink sets on every
/// authorization request would let a tenant pin another `redirect_uri`, a fixed `state` or a
/// known PKCE challenge beside authlink's own; it is a 400 naming the field and the parameter.
#[tokio::test]
async fn authorization_urls_carrying_oauth_parameters_are_refused() {
    let app = spawn_app().await;
    let field = "auth_config.credentials.authorization_url";
    // (case, authorization_url, parameter the message names)
    let cases = [
        ("redirect_uri", "https://idp.example.com/authorize?redirect_uri=https://evil.example/cb", "redirect_uri"),
        ("state", "https://idp.example.com/authorize?state=fixed", "state"),
        ("code_challenge", "https://idp.example.com/authorize?code_challenge=abc", "code_challenge"),
        (
            "code_challenge_method",
            "https://idp.example.com/authorize?code_challenge_method=plain",
            "code_challenge_method",
        ),
        ("response_type", "https://idp.example.com/authorize?response_type=token", "response_type"),
        ("client_id", "https://idp.example.com/authorize?audience=x&client_id=other", "client_id"),
        (
            "percent-encoded name",
            "https://idp.example.com/authorize?redirect%5Furi=https://evil.example/",
            "redirect_uri",
        ),
        ("empty value", "https://idp.example.com/authorize?state", "state"),
    ];
    for (case, url, param) in cases {
        for toolkit in ["github", "acme_crm"] {
            let case = format!("{toolkit}: {case}");
            let credentials = json!({"client_id": "id", "client_secret": "x", "authorization_url": url,
                                     "token_url": "https://idp.example.com/token"});
            let r = app.post("auth_configs", custom(toolkit, credentials)).await;
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            let text = error_text(&r);
            assert!(text.contains(field), "[{case}] names the field: {text}");
            assert!(text.contains(&format!("`{param}`")), "[{case}] names the parameter: {text}");
        }
    }
    let count: i64 = app.db.scalar("select count(*) from auth_config", NO_ARGS).await;
    assert_eq!(count, 0, "a refused create wrote a row");
    // Other parameters (a provider's own) are the tenant's to set.
    let credentials = json!({"client_id": "id", "client_secret": "x",
                             "authorization_url": "https://idp.example.com/authorize?audience=api&prompt=consent",
                             "token_url": "https://idp.example.com/token?state=ok"});
    app.post("auth_configs", custom("acme_crm", credentials)).await.expect(201, "other parameters");
    app.cleanup().await;
}
