//! Malformed requests get a JSON 4xx, on both backends: NUL bytes and
//! bytes that are not UTF-8 in paths and query strings (PostgreSQL refuses
//! NUL in text: they once reached it and came back as 500s), a body whose
//! `Content-Encoding` lies, HEAD probes, and what actix's HTTP parser
//! refuses before any application code runs (raw bytes that are not ASCII
//! in the request line, a 100 KB path, a head over 128 KiB).

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

/// One answer read off a raw connection.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl RawAnswer {
    /// Whether it closes the connection.
    fn closes(&self) -> bool {
        self.headers
            .to_ascii_lowercase()
            .contains("connection: close")
    }

    /// The JSON error code, asserting the answer is the JSON error shape.
    fn error_code(&self) -> String {
        assert!(
            self.headers
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{self:?}"
        );
        let body: Value = serde_json::from_slice(&self.body).expect("a JSON body");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body["error"].as_str().expect("an error code").to_owned()
    }
}

/// An answer's status and, for an error, its JSON error code.
type Expected = (u16, Option<&'static str>);

/// Sends raw bytes on one connection and reads every answer until the
/// server closes it.
fn raw_exchange(base: &str, request: &[u8]) -> Vec<RawAnswer> {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .expect("the server closes the connection");
    let mut answers = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole answer head");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let length: usize = headers
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let body_start = head_end + 4;
        answers.push(RawAnswer {
            status,
            headers: headers.to_owned(),
            body: rest[body_start..body_start + length].to_vec(),
        });
        rest = &rest[body_start + length..];
    }
    answers
}

/// What actix's HTTP parser refuses before any application code runs is
/// answered with the JSON error shape too, after the answers to the
/// requests before it on the same connection.
async fn requests_the_http_parser_refuses_are_json_4xx(db: TestDatabase) {
    let app = start(db).await;
    let base = app.base.clone();
    let exchanges = tokio::task::spawn_blocking(move || {
        let end = b" HTTP/1.1\r\nHost: x\r\n\r\n";
        let with_path = |path: &[u8]| [b"GET ".as_slice(), path, end].concat();
        let mut long_path = b"/v1/pricing/models/openrouter/".to_vec();
        long_path.extend(std::iter::repeat_n(b'a', 100_000));
        let mut huge_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        huge_header.extend(std::iter::repeat_n(b'b', 200_000));
        huge_header.extend_from_slice(b"\r\n\r\n");
        let health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".as_slice();
        let cases: Vec<(&str, Vec<u8>, Vec<Expected>)> = vec![
            (
                "raw UTF-8 in the path",
                with_path(b"/v1/pricing/models/openrouter/\xc3\xbc"),
                vec![(400, Some("invalid_request"))],
            ),
            (
                "a 100 KB path",
                with_path(&long_path),
                vec![(400, Some("invalid_request"))],
            ),
            (
                "a head over 128 KiB",
                huge_header,
                vec![(431, Some("request_head_too_large"))],
            ),
            (
                "a method that is not a token",
                b"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
                vec![(400, Some("invalid_request"))],
            ),
            (
                "an unknown HTTP version",
                b"GET /health HTTP/7.1\r\nHost: x\r\n\r\n".to_vec(),
                vec![(400, Some("invalid_request"))],
            ),
            (
                "a header name with a space",
                b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_vec(),
                vec![(400, Some("invalid_request"))],
            ),
            (
                "a good request, then a bad one on the same connection",
                [health, &with_path(b"/\xff")].concat(),
                vec![(200, None), (400, Some("invalid_request"))],
            ),
            (
                // The body holds what would be refused as a request head:
                // it is read as a body, and the next request is served.
                "a body that looks like a bad request, then a good request",
                {
                    let body = b"{\"provider\": \"x\r\nGET /\xc3\xbc HTTP/1.1\r\n\r\n\"}";
                    [
                        format!(
                            "POST /v1/pricing/cost HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                        body,
                        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    ]
                    .concat()
                },
                vec![(400, Some("invalid_body")), (200, None)],
            ),
        ];
        cases
            .into_iter()
            .map(|(what, request, expected)| (what, raw_exchange(&base, &request), expected))
            .collect::<Vec<_>>()
    })
    .await
    .expect("raw requests");
    for (what, answers, expected) in exchanges {
        let got: Vec<(u16, Option<String>)> = answers
            .iter()
            .map(|a| (a.status, (a.status >= 400).then(|| a.error_code())))
            .collect();
        let expected: Vec<(u16, Option<String>)> = expected
            .into_iter()
            .map(|(status, code)| (status, code.map(str::to_owned)))
            .collect();
        assert_eq!(got, expected, "{what}: {answers:?}");
        assert!(
            answers.last().is_some_and(RawAnswer::closes),
            "{what}: {answers:?}"
        );
    }
}

/// A refused head takes the place of a request in the connection's order:
/// it is answered exactly when a good request in its place would be. After
/// a request whose body the server does not read, that is after an answer
/// that says `connection: close` (actix answers the requests a client
/// pipelined before it read that answer).
async fn a_refused_head_is_answered_in_the_place_of_a_request(db: TestDatabase) {
    let app = start(db).await;
    let base = app.base.clone();
    let (good, bad) = tokio::task::spawn_blocking(move || {
        let body = vec![b'x'; 5_000];
        let after = |next: &[u8]| {
            let request = [
                format!(
                    "POST /no/such/route HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
                &body,
                next,
            ]
            .concat();
            raw_exchange(&base, &request)
        };
        (
            after(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
            after(b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
        )
    })
    .await
    .expect("raw requests");
    let statuses = |answers: &[RawAnswer]| answers.iter().map(|a| a.status).collect::<Vec<_>>();
    assert_eq!(statuses(&good)[0], 404, "{good:?}");
    let expected: Vec<u16> = statuses(&good)
        .iter()
        .map(|s| if *s == 200 { 400 } else { *s })
        .collect();
    assert_eq!(statuses(&bad), expected, "good: {good:?}\nbad: {bad:?}");
    if let Some(refusal) = bad.get(1) {
        assert_eq!(refusal.error_code(), "invalid_request");
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
    requests_the_http_parser_refuses_are_json_4xx,
    a_refused_head_is_answered_in_the_place_of_a_request,
);
