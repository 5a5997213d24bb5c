//! `GET /docs` (issue 17 item 8): the API reference page, Swagger UI on `/openapi.json`, served
//! entirely from authlink's origin under a strict CSP. (Rendering in a real browser: the e2e
//! test `tests/e2e/tests/docs.test.mjs`.)

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_reference_page_and_its_assets_come_from_authlink_with_a_strict_csp() {
    let app = spawn_app().await;
    let page = app.anonymous().get("/docs").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "CSP {csp} lacks {directive}");
    }
    assert!(
        !csp.contains("unsafe-eval")
            && !csp.split(';').any(|d| d.contains("script-src") && d.contains("unsafe-inline"))
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    // Every resource the page names is on this origin; no inline script.
    for needle in ["http://", "https://", "//cdn", "unpkg", "jsdelivr"] {
        assert!(!page.text.contains(needle), "the page names {needle}: {}", page.text);
    }
    assert!(!page.text.contains("<script>"), "an inline script: {}", page.text);
    let assets = [
        ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "SwaggerUIBundle"),
        ("/docs/swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui"),
        ("/docs/init.js", "text/javascript; charset=utf-8", "/openapi.json"),
    ];
    for (path, content_type, marker) in assets {
        assert!(page.text.contains(path), "the page does not load {path}");
        let r = app.anonymous().get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(r.text.contains(marker), "{path} lacks {marker}");
    }
    let init = app.anonymous().get("/docs/init.js").await;
    assert!(init.text.contains("validatorUrl: null"), "the online validator is not switched off");
    app.cleanup().await;
}
