//! Rules every listing shares: one page-size rule, and query errors reported all at once, each
//! naming its parameter.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error_ctx, spawn_app};

const BAD_REQUEST: &str = "ToolRouterV2_BadRequest";

/// (listing path, its maximum page size) for every listing of the API.
async fn listings(app: &TestApp) -> Vec<(String, i64)> {
    let session = app.create_session(json!({"user_id": "user_1"})).await;
    app.create_auth_config("github").await;
    let account = app.link_ok(&session, json!({"toolkit": "github"})).await;
    vec![
        ("connected_accounts".to_owned(), 1000),
        ("auth_configs".to_owned(), 1000),
        (format!("tool_router/session/{session}/toolkits"), 50),
        (format!("connected_accounts/{account}/audit"), 200),
    ]
}

fn errors(body: &Value) -> Vec<String> {
    body["error"]["errors"].as_array().into_iter().flatten().filter_map(|e| e.as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn every_listing_applies_the_same_page_size_rule() {
    let app = spawn_app().await;
    for (path, max) in listings(&app).await {
        for ok in ["1".to_owned(), "2.0".to_owned(), max.to_string(), String::new()] {
            let r = app.get(&format!("{path}?limit={ok}")).await;
            r.expect(200, &format!("{path}?limit={ok}"));
        }
        for bad in ["0".to_owned(), "-1".to_owned(), (max + 1).to_string(), "abc".to_owned(), "1.5".to_owned()] {
            let case = format!("{path}?limit={bad}");
            let r = app.get(&case).await;
            assert_error_ctx(&r, 400, BAD_REQUEST, &case);
            assert_eq!(errors(&r.body), [format!("limit: must be an integer from 1 to {max}")], "[{case}]");
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn every_listing_reports_all_its_query_errors_at_once() {
    let app = spawn_app().await;
    let all = listings(&app).await;
    let cases: Vec<(&str, &[&str])> = vec![
        (&all[0].0, &["limit", "cursor", "order_by", "account_type", "statuses[0]"]),
        (&all[1].0, &["limit", "toolkit_slug", "cursor"]),
        (&all[2].0, &["limit", "cursor", "toolkits[1]"]),
        (&all[3].0, &["limit", "cursor"]),
    ];
    let query = "limit=0&cursor=garbage!&order_by=name&account_type=OTHER&statuses=NOPE&toolkit_slug=a%20b&toolkits=github%2Ca%20b";
    for (path, fields) in cases {
        let case = format!("{path}?{query}");
        let r = app.get(&case).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, &case);
        let named: Vec<String> = errors(&r.body).iter().map(|e| e.split(": ").next().unwrap().to_owned()).collect();
        let mut named_sorted = named.clone();
        named_sorted.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(named_sorted, want, "[{case}] errors: {named:?}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn typed_query_parameters_name_themselves_when_malformed() {
    let app = spawn_app().await;
    let all = listings(&app).await;
    for (path, param) in [
        (all[1].0.as_str(), "show_disabled"),
        (all[1].0.as_str(), "is_composio_managed"),
        (all[2].0.as_str(), "is_connected"),
    ] {
        let case = format!("{path}?{param}=maybe");
        let r = app.get(&case).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, &case);
        let errors = errors(&r.body);
        assert!(errors.len() == 1 && errors[0].starts_with(&format!("{param}: ")), "[{case}] {errors:?}");
    }
    app.cleanup().await;
}
