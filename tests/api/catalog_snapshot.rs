//! The catalog as `GET /api/v3.1/toolkits` serves it, against a committed snapshot
//! (`tests/api/snapshots/toolkits.txt`), so an added, removed or changed entry shows in review;
//! and `AUTHLINK_CATALOG_DIR` extending it in authlink's and in Nango's format.
//!
//! After a deliberate catalog change: `UPDATE_SNAPSHOTS=1 cargo test --test api catalog_snapshot`
//! rewrites the snapshot; commit it with the change.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const SNAPSHOT: &str = "tests/api/snapshots/toolkits.txt";

/// Every toolkit of a listing, one line each: slug, name, category ids, the scopes it requests
/// and the fields a connection must give.
async fn listing(app: &TestApp) -> (usize, String) {
    let resp = app.get("/api/v3.1/toolkits?limit=1000&type=native").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let body = &resp.body;
    assert_eq!(body["next_cursor"], Value::Null, "one page holds the whole catalog");
    let items = body["items"].as_array().unwrap();
    assert_eq!(body["total_items"].as_u64(), Some(items.len() as u64));
    let join = |v: &Value, key: &str| -> String {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = String::new();
    for t in items {
        let details = &t["auth_config_details"][0];
        let scopes: Vec<&str> =
            details["required_scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let fields = join(&details["fields"]["connected_account_initiation"]["required"], "name");
        out.push_str(&format!(
            "{} | {} | {} | {} | {}\n",
            t["slug"].as_str().unwrap(),
            t["name"].as_str().unwrap(),
            join(&t["meta"]["categories"], "id"),
            scopes.join(" "),
            fields
        ));
        // Non-OAuth toolkits add their scheme (OAuth lines stay as they were), and API key and
        // bearer toolkits where each value goes: `header:DD-API-KEY={api_key}`.
        if details["mode"] != "OAUTH2" {
            out.pop();
            out.push_str(&format!(" | {}", details["mode"].as_str().unwrap()));
            let placed: Vec<String> = details["credential_placements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let prefix = p["prefix"].as_str().unwrap_or_default();
                    format!(
                        "{}:{}={prefix}{{{}}}",
                        p["in"].as_str().unwrap(),
                        p["name"].as_str().unwrap(),
                        p["field"].as_str().unwrap()
                    )
                })
                .collect();
            if !placed.is_empty() {
                out.push_str(&format!(" | {}", placed.join(", ")));
            }
            out.push('\n');
        }
    }
    (items.len(), out)
}

#[tokio::test]
async fn the_toolkit_listing_matches_the_committed_snapshot() {
    let app = spawn_app().await;
    let (count, actual) = listing(&app).await;
    assert!(count >= 300, "{count} toolkits (issue 16: at least 300)");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .filter(|l| !actual.lines().any(|a| a == *l))
            .map(|l| format!("- {l}"))
            .chain(actual.lines().filter(|l| !expected.lines().any(|e| e == *l)).map(|l| format!("+ {l}")))
            .collect();
        panic!(
            "GET /toolkits differs from {SNAPSHOT} (rerun with UPDATE_SNAPSHOTS=1 if the change is meant):\n{}",
            diff.join("\n")
        );
    }
}

/// The wire shape of the placements: one entry per header or query parameter, each naming the
/// `state.val` field it carries; none on OAuth and basic toolkits.
#[tokio::test]
async fn toolkits_serve_where_each_credential_value_goes() {
    let app = spawn_app().await;
    let placements = |slug: &'static str| {
        let app = &app;
        async move {
            let resp = app.get(&format!("/api/v3.1/toolkits/{slug}")).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            resp.body["auth_config_details"][0]["credential_placements"].clone()
        }
    };
    assert_eq!(
        placements("datadog").await,
        json!([
            {"in": "header", "name": "DD-API-KEY", "prefix": null, "field": "api_key"},
            {"in": "header", "name": "DD-APPLICATION-KEY", "prefix": null, "field": "application_key"}
        ])
    );
    assert_eq!(
        placements("trello").await,
        json!([
            {"in": "query", "name": "key", "prefix": null, "field": "api_key"},
            {"in": "query", "name": "token", "prefix": null, "field": "token"}
        ])
    );
    assert_eq!(
        placements("plaid").await,
        json!([
            {"in": "header", "name": "PLAID-CLIENT-ID", "prefix": null, "field": "client_id"},
            {"in": "header", "name": "PLAID-SECRET", "prefix": null, "field": "secret"}
        ])
    );
    // The single form, its field defaulted to the first secret field.
    assert_eq!(
        placements("huggingface").await,
        json!([{"in": "header", "name": "Authorization", "prefix": "Bearer ", "field": "token"}])
    );
    assert_eq!(placements("github").await, json!([]));
    assert_eq!(placements("twilio").await, json!([]));
    // Listings carry the same member.
    let resp = app.get("/api/v3.1/toolkits?search=datadog").await;
    assert_eq!(
        resp.body["items"][0]["auth_config_details"][0]["credential_placements"][1]["name"],
        "DD-APPLICATION-KEY"
    );
}

const EXTRA_AUTHLINK: &str = "toolkits:
  - slug: acme
    name: Acme
    categories: [crm]
    description: Acme's CRM.
    source: https://acme.example/docs/oauth
    authorization_url: https://acme.example/oauth/authorize
    token_url: https://acme.example/oauth/token
    default_scopes: [contacts.read]
    scope_separator: \" \"
    pkce: true
    client_auth: client_secret_post
  - slug: github
    name: GitHub Enterprise
    categories: [developer-tools]
    description: A GitHub Enterprise Server.
    source: https://docs.github.com/en/enterprise-server@3.14/apps/oauth-apps
    authorization_url: https://{subdomain}.ghe.com/login/oauth/authorize
    token_url: https://{subdomain}.ghe.com/login/oauth/access_token
    fields:
      - name: subdomain
        display_name: Enterprise subdomain
        pattern: \"[a-z0-9-]+\"
    default_scopes: [repo]
    scope_separator: \" \"
    pkce: true
    client_auth: client_secret_post
";

const EXTRA_NANGO: &str = "
widgets-io:
  display_name: Widgets.io
  categories: [productivity]
  auth_mode: OAUTH2
  authorization_url: https://${connectionConfig.subdomain}.widgets.example/oauth/authorize
  token_url: https://${connectionConfig.subdomain}.widgets.example/oauth/token
  scope_separator: ','
  default_scopes: [read, write]
  docs: https://widgets.example/docs/oauth
widgets-key:
  display_name: Widgets key
  auth_mode: API_KEY
  docs: https://widgets.example/docs/keys
";

fn extra_dir(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("authlink_catalog_dir_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

#[tokio::test]
async fn an_extra_catalog_dir_adds_and_overrides_toolkits_in_both_formats() {
    let dir = extra_dir(&[("10-own.yaml", EXTRA_AUTHLINK), ("20-nango.yml", EXTRA_NANGO)]);
    let base = spawn_app().await;
    let (base_count, _) = listing(&base).await;
    let app = TestApp::builder().catalog_dir(&dir).spawn().await;
    let (count, lines) = listing(&app).await;
    assert_eq!(count, base_count + 2, "acme and widgets-io added, github replaced, the API key entry skipped");
    assert!(lines.contains("acme | Acme | crm | contacts.read | \n"), "{lines}");
    assert!(lines.contains("github | GitHub Enterprise | developer-tools | repo | subdomain\n"), "{lines}");
    assert!(lines.contains("widgets-io | Widgets.io | productivity | read write | subdomain\n"), "{lines}");
    assert!(!lines.contains("widgets-key"), "{lines}");

    let resp = app.get("/api/v3.1/toolkits/widgets-io").await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["slug"], "widgets-io");
    assert_eq!(resp.body["type"], "native");
    assert_eq!(resp.body["meta"]["description"], "Widgets.io (from a Nango provider file).");

    // A catalog toolkit of the directory takes an auth config without endpoints, as built-ins do.
    let resp = app
        .post(
            "/api/v3.1/auth_configs",
            serde_json::json!({
                "toolkit": {"slug": "acme"},
                "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                    "credentials": {"client_id": "cid", "client_secret": "csecret"}}
            }),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    std::fs::remove_dir_all(&dir).unwrap();
}
