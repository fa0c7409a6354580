//! The web console's files over real HTTP: the page at `/`, its assets under `/console/` with
//! their content types and `Cache-Control: no-cache`, a 404 for anything else. What the page
//! does is tested in a real browser by `gateway/tests/browser` (scripts/browser.sh).

mod common;

use common::{Gateway, http};

#[tokio::test]
async fn the_page_and_its_assets_are_served_and_nothing_else() {
    let gateway = Gateway::start().await;
    let fetch = |path: &'static str| {
        let url = gateway.url(path);
        async move {
            let response = http().get(url).send().await.unwrap();
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let (content_type, cache) = (header("content-type"), header("cache-control"));
            (response.status().as_u16(), content_type, cache, response.text().await.unwrap())
        }
    };

    let (status, content_type, cache, page) = fetch("/").await;
    assert_eq!(
        (status, content_type.as_deref(), cache.as_deref()),
        (200, Some("text/html; charset=utf-8"), Some("no-cache"))
    );
    assert!(page.contains(r#"<script type="module" src="/console/app.js">"#));

    for (path, expected) in [
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/api.js", "text/javascript; charset=utf-8"),
        ("/console/client/api.js", "text/javascript; charset=utf-8"),
        ("/console/client/connection.js", "text/javascript; charset=utf-8"),
        ("/console/client/interview.js", "text/javascript; charset=utf-8"),
        ("/console/client/model.js", "text/javascript; charset=utf-8"),
        ("/console/view.js", "text/javascript; charset=utf-8"),
        ("/console/voice.js", "text/javascript; charset=utf-8"),
        ("/console/mic-worklet.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml; charset=utf-8"),
    ] {
        let (status, content_type, cache, body) = fetch(path).await;
        assert_eq!(
            (status, content_type.as_deref(), cache.as_deref()),
            (200, Some(expected), Some("no-cache")),
            "{path}"
        );
        assert!(!body.is_empty(), "{path}");
    }

    for path in [
        "/console/",
        "/console/nope.js",
        "/console/session.js",
        "/console/model.js",
        "/console/client/",
        "/console/client/index.js",
        "/console/client/msgpack.js",
        "/console/client/protocol.d.ts",
        "/console/jsconfig.json",
        "/console/..%2FCargo.toml",
        "/console/app.js/x",
        "/index.html",
    ] {
        let (status, content_type, _, body) = fetch(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
        assert!(body.contains(r#""code":"not_found""#), "{path}: {body}");
    }
}
