//! Bearer-token authentication of the admin API.
//!
//! `PRICESYNC_ADMIN_TOKENS` holds `name:token` pairs. Tokens are compared in
//! constant time; a request without a valid token gets 401 with
//! `WWW-Authenticate`; with no token configured every admin request is
//! refused — no admin route is ever open. Tokens are never logged.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};

use super::error::ApiError;

/// One configured admin: a name (shown as `admin:<name>`) and a secret token.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// The admin's name.
    pub name: String,
    token: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("token", &"<secret>")
            .finish()
    }
}

/// The shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Parses `name:token,name:token`; the error says what is wrong without
/// echoing any token.
pub fn parse_admin_tokens(text: &str) -> Result<Vec<AdminToken>, String> {
    let mut tokens: Vec<AdminToken> = Vec::new();
    for (i, pair) in text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let Some((name, token)) = pair.split_once(':') else {
            return Err(format!("entry {} is not name:token", i + 1));
        };
        let (name, token) = (name.trim(), token.trim());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "entry {}: the name must be letters, digits, '-', '_' or '.'",
                i + 1
            ));
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "entry {} ({name}): the token is shorter than {MIN_TOKEN_LEN} characters",
                i + 1
            ));
        }
        if tokens.iter().any(|t| t.name == name) {
            return Err(format!("entry {}: the name {name} appears twice", i + 1));
        }
        if let Some(other) = tokens.iter().find(|t| t.token == token) {
            return Err(format!(
                "entry {} ({name}) has the same token as {}: give each name its own token, so that the logs and history name who acted",
                i + 1,
                other.name
            ));
        }
        tokens.push(AdminToken {
            name: name.to_owned(),
            token: token.to_owned(),
        });
    }
    Ok(tokens)
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The admin a token belongs to. Every configured token is compared, so
/// the time taken does not tell which one matched.
pub fn authenticate<'a>(tokens: &'a [AdminToken], presented: &str) -> Option<&'a str> {
    let mut found = None;
    for t in tokens {
        if constant_time_eq(t.token.as_bytes(), presented.as_bytes()) {
            found = Some(t.name.as_str());
        }
    }
    found
}

/// The configured tokens, as app data.
#[derive(Debug, Clone, Default)]
pub struct AdminTokens(pub Vec<AdminToken>);

/// The authenticated admin of a request (`admin:<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub String);

impl Admin {
    /// How the admin is recorded on jobs: `admin:<name>`.
    pub fn label(&self) -> String {
        format!("admin:{}", self.0)
    }
}

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Admin>()
                .cloned()
                .ok_or_else(|| ApiError::Unauthorized.into()),
        )
    }
}

/// Middleware of the `/admin` scope: lets a request through only with a
/// valid bearer token.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let tokens = req
        .app_data::<web::Data<AdminTokens>>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme name is case-insensitive (RFC 9110).
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim);
    let admin = presented
        .and_then(|p| authenticate(&tokens, p))
        .map(str::to_owned);
    match admin {
        Some(name) => {
            req.extensions_mut().insert(Admin(name));
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        None => {
            let error = if tokens.is_empty() {
                ApiError::AdminDisabled
            } else {
                ApiError::Unauthorized
            };
            // Who tried and how, never what they presented.
            tracing::warn!(
                method = %req.method(),
                path = %req.path(),
                peer = %req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string()),
                credentials = match presented {
                    None => "none",
                    Some(_) if tokens.is_empty() => "admin API disabled",
                    Some(_) => "unknown token",
                },
                "admin request refused"
            );
            Ok(req.into_response(error.error_response()))
        }
    }
}

/// The admin requests that may be in progress at once, shared by the admin
/// scope ([`limit_admin`]).
#[derive(Clone)]
pub struct AdminPermits(pub std::sync::Arc<tokio::sync::Semaphore>);

impl AdminPermits {
    /// At most `limit` admin requests at once.
    pub fn new(limit: usize) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(limit)))
    }
}

/// Bounds the admin requests in progress: one more is answered at once
/// with 429 `admin_overloaded` and `Retry-After`, instead of queueing
/// behind the others for the database. A burst of triggers (every one of
/// which reads the database) then costs its callers what the limit lets
/// through, and the refused ones learn it without waiting. Runs after
/// authentication, so only admins see it.
pub async fn limit_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let permit = req
        .app_data::<web::Data<AdminPermits>>()
        .map(|p| p.0.clone().try_acquire_owned());
    match permit {
        Some(Err(_)) => Ok(req.into_response(ApiError::AdminOverloaded.error_response())),
        // Held until the answer is ready; no limit configured: none.
        Some(Ok(_permit)) => Ok(next.call(req).await?.map_into_boxed_body()),
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request holds the only permit (its handler waits on a signal):
    /// the next is refused at once with 429 `admin_overloaded` and
    /// `Retry-After`; once the first answers, requests pass again.
    #[actix_web::test]
    async fn the_admin_limit_refuses_at_once_what_exceeds_it() {
        use actix_web::{test, App, HttpResponse};
        let entered = std::sync::Arc::new(tokio::sync::Notify::new());
        let release = std::sync::Arc::new(tokio::sync::Notify::new());
        let (e, r) = (entered.clone(), release.clone());
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(AdminPermits::new(1)))
                .wrap(actix_web::middleware::from_fn(limit_admin))
                .route(
                    "/slow",
                    web::get().to(move || {
                        let (e, r) = (e.clone(), r.clone());
                        async move {
                            e.notify_one();
                            r.notified().await;
                            HttpResponse::Ok().finish()
                        }
                    }),
                )
                .route("/fast", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let app = std::rc::Rc::new(app);
        let slow = {
            let app = app.clone();
            tokio::task::spawn_local(async move {
                test::call_service(&*app, test::TestRequest::get().uri("/slow").to_request())
                    .await
                    .status()
            })
        };
        entered.notified().await;
        let refused =
            test::call_service(&*app, test::TestRequest::get().uri("/fast").to_request()).await;
        assert_eq!(
            refused.status(),
            actix_web::http::StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            refused
                .headers()
                .get(actix_web::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let body: serde_json::Value = test::read_body_json(refused).await;
        assert_eq!(body["error"], "admin_overloaded");
        release.notify_one();
        assert_eq!(slow.await.expect("joined"), actix_web::http::StatusCode::OK);
        let passed =
            test::call_service(&*app, test::TestRequest::get().uri("/fast").to_request()).await;
        assert_eq!(passed.status(), actix_web::http::StatusCode::OK);
    }

    #[test]
    fn tokens_parse_and_authenticate() {
        let tokens =
            parse_admin_tokens("ops:0123456789abcdef, ci:fedcba9876543210xx").expect("valid");
        assert_eq!(authenticate(&tokens, "0123456789abcdef"), Some("ops"));
        assert_eq!(authenticate(&tokens, "fedcba9876543210xx"), Some("ci"));
        assert_eq!(authenticate(&tokens, "0123456789abcdeX"), None);
        assert_eq!(authenticate(&tokens, ""), None);
        assert!(!format!("{tokens:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn bad_token_lists_are_refused_without_echoing_tokens() {
        for (bad, says) in [
            ("ops", "name:token"),
            ("ops:short", "shorter"),
            ("o p:0123456789abcdef", "name"),
            ("ops:0123456789abcdef,ops:0123456789abcdeg", "twice"),
        ] {
            let e = parse_admin_tokens(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("0123456789abcdef"), "{e}");
        }
        assert_eq!(parse_admin_tokens("").map(|t| t.len()), Ok(0));
    }

    #[test]
    fn equality_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
