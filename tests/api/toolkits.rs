//! `toolkits`: list, retrieve, multi, categories (issue 12), from the catalog plus the project's
//! custom toolkits.

use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_error_ctx, spawn_app};

/// Every field the SDKs read of a toolkit object (py `ToolkitRetrieveResponse`, ts zod schema).
#[track_caller]
fn assert_toolkit(t: &Value, slug: &str, kind: &str) {
    assert_eq!(t["slug"], slug, "{t}");
    assert!(t["name"].as_str().is_some_and(|n| !n.is_empty()), "{t}");
    assert_eq!(t["type"], kind, "{t}");
    assert_eq!(t["enabled"], true);
    assert_eq!(t["is_local_toolkit"], false);
    assert_eq!(t["no_auth"], false);
    let scheme = t["auth_schemes"][0].as_str().unwrap();
    assert_eq!(t["auth_schemes"], json!([scheme]), "{t}");
    let scheme_name = match scheme {
        "OAUTH2" => "OAuth 2.0",
        "API_KEY" => "API Key",
        "BEARER_TOKEN" => "Bearer Token",
        "BASIC" => "Basic Auth",
        "OAUTH1" => "OAuth 1.0a",
        other => panic!("unknown scheme {other}"),
    };
    assert_eq!(t["composio_managed_auth_schemes"], json!([]));
    assert_eq!(t["composio_managed_auth"], json!([]));
    assert_eq!(t["deprecated"], json!({"toolkitId": slug, "rawProxyInfoByAuthSchemes": []}));
    let meta = &t["meta"];
    assert!(meta["description"].is_string() && meta["logo"].is_string(), "{meta}");
    assert_eq!(meta["created_at"], "2026-12-01T00:00:00.000Z");
    assert_eq!(meta["updated_at"], "2026-12-01T00:00:00.000Z");
    assert_eq!(meta["tools_count"], 0);
    assert_eq!(meta["triggers_count"], 0);
    assert_eq!(meta["version"], "latest");
    assert_eq!(meta["available_versions"], json!(["latest"]));
    for c in meta["categories"].as_array().unwrap() {
        assert_eq!(c["id"], c["slug"], "{c}");
        assert!(c["name"].is_string());
    }
    let details = t["auth_config_details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{t}");
    assert_eq!(details[0]["mode"], scheme);
    assert_eq!(details[0]["name"], scheme_name);
    assert!(details[0]["required_scopes"].is_array());
    // Where an API key or bearer connection's values go; OAuth and basic toolkits place nothing
    // (the access token, and always `Authorization: Basic`).
    let placements = details[0]["credential_placements"].as_array().unwrap();
    if scheme == "OAUTH2" || scheme == "BASIC" {
        assert!(placements.is_empty(), "{t}");
    }
    for p in placements {
        assert!(p["in"] == "header" || p["in"] == "query", "{p}");
        assert!(
            p["name"].is_string() && p["field"].is_string() && (p["prefix"].is_null() || p["prefix"].is_string()),
            "{p}"
        );
    }
    let creation = &details[0]["fields"]["auth_config_creation"];
    let names = |group: &Value| -> Vec<String> {
        group.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
    };
    let required = names(&creation["required"]);
    if scheme == "OAUTH1" {
        // The app's consumer key and secret; the three endpoints may be overridden.
        assert_eq!(required, ["consumer_key", "consumer_secret"], "{t}");
        assert_eq!(names(&creation["optional"]), ["request_token_url", "authorization_url", "token_url"], "{t}");
        assert_eq!(details[0]["fields"]["connected_account_initiation"]["required"], json!([]), "{t}");
    } else if scheme != "OAUTH2" {
        // API key, bearer and basic configs take no credentials: the secret is the connection's.
        assert!(required.is_empty() && creation["optional"] == json!([]), "{t}");
        let initiation = &details[0]["fields"]["connected_account_initiation"]["required"];
        assert!(initiation.as_array().unwrap().iter().any(|f| f["is_secret"] == true), "{t}");
        assert_eq!(details[0]["required_scopes"], json!([]));
    } else if kind == "custom" {
        assert_eq!(required, ["client_id", "client_secret", "authorization_url", "token_url"]);
    } else {
        assert_eq!(required, ["client_id", "client_secret"]);
    }
    for field in creation["required"].as_array().unwrap().iter().chain(creation["optional"].as_array().unwrap()) {
        for key in ["name", "displayName", "description", "type"] {
            assert!(field[key].is_string(), "{key} of {field}");
        }
        assert!(field["required"].is_boolean() && field["is_secret"].is_boolean() && field["user_visible"] == true);
        assert_eq!(
            field["is_secret"],
            (field["name"] == "client_secret" || field["name"] == "consumer_secret"),
            "{field}"
        );
    }
    assert!(details[0]["fields"]["connected_account_initiation"]["required"].is_array());
    assert!(details[0]["fields"]["connected_account_initiation"]["optional"].is_array());
}

#[tokio::test]
async fn retrieve_serves_catalog_and_custom_toolkits_and_404s_the_rest() {
    let app = spawn_app().await;
    let r = app.get("toolkits/GitHub").await;
    let t = r.expect(200, "github").clone();
    assert_toolkit(&t, "github", "native");
    assert_eq!(t["name"], "GitHub");
    assert_eq!(
        t["meta"]["categories"],
        json!([{"id": "developer-tools", "slug": "developer-tools", "name": "Developer Tools"}])
    );
    assert_eq!(t["meta"]["logo"], "https://logos.composio.dev/api/github");
    assert_eq!(
        t["auth_config_details"][0]["deprecated_auth_provider_details"]["token_url"],
        "https://github.com/login/oauth/access_token"
    );

    assert_error(&app.get("toolkits/acme_custom").await, 404, "Toolkit_NotFound");
    app.create_auth_config_with(
        &app.api(),
        "acme_custom",
        json!({"authorization_url": "https://acme.example/authorize", "token_url": "https://acme.example/token"}),
    )
    .await;
    let t = app.get("toolkits/acme_custom").await.expect(200, "custom").clone();
    assert_toolkit(&t, "acme_custom", "custom");
    assert_eq!(t["meta"]["categories"], json!([]));
    // Another project does not see it.
    let other = app.new_project_key("other").await;
    assert_error(&app.as_key(&other).get("toolkits/acme_custom").await, 404, "Toolkit_NotFound");
    // The v3 path too.
    app.v3().get("toolkits/github").await.expect(200, "v3");
    assert_error(&app.get("toolkits/bad%20slug").await, 400, "ToolRouterV2_BadRequest");
    app.cleanup().await;
}

#[tokio::test]
async fn list_filters_pages_and_counts() {
    let app = spawn_app().await;
    let all = app.get("toolkits").await.expect(200, "all").clone();
    let total = all["total_items"].as_i64().unwrap();
    assert!(total >= 40, "{total}");
    assert_eq!(i64::try_from(all["items"].as_array().unwrap().len()).unwrap(), total);
    assert_eq!(
        (all["current_page"].clone(), all["total_pages"].clone(), all["next_cursor"].clone()),
        (json!(1), json!(1), Value::Null)
    );
    let slugs: Vec<&str> = all["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    let mut sorted = slugs.clone();
    sorted.sort_unstable();
    assert_eq!(slugs, sorted, "by slug");
    all["items"].as_array().unwrap().iter().for_each(|t| assert_toolkit(t, t["slug"].as_str().unwrap(), "native"));

    // Paging with the cursor walks every item once.
    let mut seen = Vec::new();
    let mut path = "toolkits?limit=7".to_owned();
    loop {
        let page = app.get(&path).await.expect(200, "page").clone();
        assert_eq!(page["total_items"], total);
        seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("toolkits?limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, slugs);

    let crm = app.get("toolkits?category=crm").await.expect(200, "crm").clone();
    let crm_slugs: Vec<&str> = crm["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(
        crm_slugs,
        [
            "affinity",
            "apollo",
            "attio",
            "capsule_crm",
            "close",
            "copper",
            "freshsales",
            "gong",
            "highlevel",
            "hubspot",
            "hunter",
            "keap",
            "outreach",
            "pipedrive",
            "salesforce",
            "salesloft",
            "shopify",
            "teamleader",
            "zendesk",
            "zendesk_sell",
            "zoho",
            "zoho_bigin"
        ]
    );
    let found = app.get("toolkits?search=CALENDAR").await.expect(200, "search").clone();
    let found: Vec<&str> = found["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert!(found.contains(&"googlecalendar") && found.contains(&"outlook"), "{found:?}");
    assert!(!found.contains(&"github"), "{found:?}");
    assert_eq!(app.get("toolkits?managed_by=composio").await.expect(200, "composio")["total_items"], 0);
    assert_eq!(app.get("toolkits?managed_by=project").await.expect(200, "project")["total_items"], 0);

    app.create_auth_config("github").await;
    app.create_auth_config_with(
        &app.api(),
        "zz_custom",
        json!({"authorization_url": "https://z.example/a", "token_url": "https://z.example/t"}),
    )
    .await;
    let project = app.get("toolkits?managed_by=project").await.expect(200, "project").clone();
    let names: Vec<&str> = project["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(names, ["github", "zz_custom"]);
    let custom = app.get("toolkits?type=custom").await.expect(200, "custom").clone();
    assert_eq!(custom["total_items"], 1);
    assert_toolkit(&custom["items"][0], "zz_custom", "custom");
    assert_eq!(app.get("toolkits?type=native").await.expect(200, "native")["total_items"], total);
    assert_eq!(app.get("toolkits").await.expect(200, "all")["total_items"], total + 1);
    // Ignored parameters the SDKs send.
    app.get("toolkits?sort_by=usage&include_deprecated=true&user_id=u1&limit=").await.expect(200, "ignored");
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_list_queries_name_the_parameter() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("managed_by=me", "managed_by"),
        ("type=local", "type"),
        ("sort_by=popularity", "sort_by"),
        ("cursor=not-a-cursor", "cursor"),
        (&format!("search={}", "x".repeat(257)), "search"),
    ] {
        let r = app.get(&format!("toolkits?{query}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", query);
        assert!(r.body["error"]["errors"].to_string().contains(field), "{query}: {}", r.text);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn multi_returns_the_known_toolkits_with_the_listings_filters() {
    let app = spawn_app().await;
    // What both SDKs send: `toolkits` plus the listing's filters (absent ones omitted).
    let r = app.post("toolkits/multi", json!({"toolkits": ["slack", "nope", "GitHub", "slack"]})).await;
    let body = r.expect(200, "multi").clone();
    let slugs: Vec<&str> = body["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["github", "slack"]);
    assert_eq!((body["total_items"].clone(), body["total_pages"].clone()), (json!(2), json!(1)));
    assert_eq!((body["current_page"].clone(), body["next_cursor"].clone()), (json!(1), Value::Null));
    assert_toolkit(&body["items"][1], "slack", "native");
    let r = app
        .post("toolkits/multi", json!({"toolkits": ["slack", "hubspot"], "category": "crm", "sort_by": "usage"}))
        .await;
    assert_eq!(r.expect(200, "category").clone()["items"][0]["slug"], "hubspot");
    let page = app.post("toolkits/multi", json!({"limit": 2})).await.expect(200, "all, paged").clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app.post("toolkits/multi", json!({"limit": 2, "cursor": cursor})).await.expect(200, "page 2").clone();
    assert_eq!(next["current_page"], 2);
    assert_ne!(next["items"][0]["slug"], page["items"][0]["slug"]);
    for (body, case) in [
        (json!({"toolkits": ["bad slug"]}), "bad slug"),
        (json!({"toolkits": "github"}), "not a list"),
        (json!({"limit": 0}), "limit 0"),
        (json!({"limit": 2.5}), "fractional limit"),
        (json!({"managed_by": "me"}), "managed_by"),
        (json!({"cursor": "nope"}), "cursor"),
    ] {
        assert_error_ctx(&app.post("toolkits/multi", body).await, 400, "ToolRouterV2_BadRequest", case);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn categories_list_those_of_the_catalog() {
    let app = spawn_app().await;
    let body = app.get("toolkits/categories").await.expect(200, "categories").clone();
    let ids: Vec<&str> = body["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ai",
            "analytics",
            "cloud",
            "communication",
            "crm",
            "design",
            "developer-tools",
            "e-commerce",
            "finance",
            "hr",
            "marketing",
            "productivity",
            "social-media",
            "support",
            "video"
        ]
    );
    assert_eq!(body["items"][0], json!({"id": "ai", "name": "AI & Machine Learning"}));
    assert_eq!(body["items"][4], json!({"id": "crm", "name": "CRM"}));
    assert_eq!((body["total_pages"].clone(), body["next_cursor"].clone()), (json!(1), Value::Null));
    assert_error(&app.anonymous().get("toolkits/categories").await, 401, "Auth_NoAuthProvided");
    app.cleanup().await;
}

#[tokio::test]
async fn tool_level_toolkit_calls_are_refused_in_the_envelope() {
    let app = spawn_app().await;
    for r in [
        app.get("toolkits/changelog").await,
        app.post("toolkits/github/scopes/recommended", json!({"tools": ["GITHUB_X"]})).await,
        app.get("toolkits/github/scopes/grant_context").await,
    ] {
        assert_error(&r, 400, "Authlink_Unsupported");
        assert!(r.text.contains("serves no tools"), "{}", r.text);
    }
    assert_error(&app.anonymous().get("toolkits/changelog").await, 401, "Auth_NoAuthProvided");
    app.cleanup().await;
}
