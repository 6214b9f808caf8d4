//! Malformed requests get a JSON 4xx, on both backends: NUL bytes and
//! bytes that are not UTF-8 in paths and query strings (PostgreSQL refuses
//! NUL in text: they once reached it and came back as 500s), a body whose
//! `Content-Encoding` lies, HEAD probes. What actix's HTTP parser refuses
//! before any application code runs is a 4xx without a body.

mod common;

use std::io::{Read, Write};

use common::{on_both_backends, TestApp, TestDatabase, TOKEN};
use serde_json::Value;

async fn start(db: TestDatabase) -> TestApp {
    TestApp::builder().admin_token().start(db).await
}

async fn assert_json_400(app: &TestApp, method: reqwest::Method, path: &str) {
    let response = app.call(method.clone(), path, Some(TOKEN), None).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(status, 400, "{method} {path}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path}: {content_type}"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["error"], "invalid_request", "{method} {path}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn nul_bytes_and_non_utf8_in_paths_and_queries_are_json_400s(db: TestDatabase) {
    let app = start(db).await;
    for path in [
        "/v1/pricing/models/openrouter/a%00b",
        "/v1/pricing/models/openrouter/%C3%28",
        "/v1/pricing/models?model=a%00b",
        "/v1/pricing/models?provider=openrouter&cursor=openrouter:%00",
        "/v1/pricing/history?model=%00",
        "/v1/pricing/history?provider=openrouter&model=x%FF",
        "/admin/pricing/sync/%00",
        "/admin/pricing/held-changes?provider=%00",
    ] {
        assert_json_400(&app, reqwest::Method::GET, path).await;
    }
    assert_json_400(
        &app,
        reqwest::Method::DELETE,
        "/admin/pricing/locks/pricing_sync:%00",
    )
    .await;
    // The same ids without the bad byte are ordinary 404s.
    let (status, body) = app.get("/v1/pricing/models/openrouter/ab").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

async fn a_body_whose_encoding_lies_is_a_json_400(db: TestDatabase) {
    let app = start(db).await;
    let response = app
        .client
        .post(format!("{}/admin/pricing/sync/trigger", app.base))
        .bearer_auth(TOKEN)
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body("{\"providers\": [\"openrouter\"]} is not gzip")
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(status, 400, "{text}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["error"], "invalid_request");
}

async fn head_probes_answer_like_get_without_a_body(db: TestDatabase) {
    let app = start(db).await;
    for path in ["/health", "/ready"] {
        let response = app.call(reqwest::Method::HEAD, path, None, None).await;
        assert_eq!(response.status().as_u16(), 200, "HEAD {path}");
        assert!(
            response.bytes().await.expect("body").is_empty(),
            "HEAD {path}"
        );
    }
}

/// Sends raw bytes and reads the status line of the answer.
fn raw_status(base: &str, request: &[u8]) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn requests_the_http_parser_refuses_are_4xx(db: TestDatabase) {
    let app = start(db).await;
    let base = app.base.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let mut long = b"GET /v1/pricing/models/openrouter/".to_vec();
        long.extend(std::iter::repeat_n(b'a', 100_000));
        long.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        [
            raw_status(
                &base,
                b"GET /v1/pricing/models/openrouter/\xc3\xbc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
            raw_status(&base, &long),
        ]
    })
    .await
    .expect("raw requests");
    for status_line in answers {
        assert!(status_line.starts_with("HTTP/1.1 4"), "{status_line}");
    }
}

/// The change feed's parameters are checked before any wait, and a cursor
/// that names no retained change is 410 with the advice to reload.
async fn bad_change_feed_requests_are_json_4xx(db: TestDatabase) {
    let app = start(db).await;
    for (path, status, code) in [
        ("/v1/pricing/changes", 400, "invalid_parameter"),
        ("/v1/pricing/changes?after=x", 400, "invalid_parameter"),
        ("/v1/pricing/changes?after=-1", 400, "invalid_parameter"),
        (
            "/v1/pricing/changes?after=0&wait=61",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/pricing/changes?after=0&limit=0",
            400,
            "invalid_parameter",
        ),
        (
            "/v1/pricing/changes?after=0&other=1",
            400,
            "invalid_request",
        ),
        ("/v1/pricing/changes?after=999999", 410, "cursor_expired"),
    ] {
        let (got, body) = app.get(path).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (status, body) = app.get("/v1/pricing/changes?after=0").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"], serde_json::json!([]));
}

on_both_backends!(
    bad_change_feed_requests_are_json_4xx,
    nul_bytes_and_non_utf8_in_paths_and_queries_are_json_400s,
    a_body_whose_encoding_lies_is_a_json_400,
    head_probes_answer_like_get_without_a_body,
    requests_the_http_parser_refuses_are_4xx,
);
