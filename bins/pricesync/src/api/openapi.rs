//! The OpenAPI 3 document (`GET /openapi.json`) and Swagger UI (`GET /docs/`).
//!
//! The document is collected by `utoipa-actix-web` from the one route list,
//! [`super::routes`]: registering a handler there adds its route and its
//! `#[utoipa::path]` operation together, and the bodies' schemas come from
//! the types that build them (`super::types`, and the domain's types under
//! its `openapi` feature). What holds for a whole scope rather than one
//! handler (the admin token and its 401, public routes' `security: []`,
//! the database's 503 on read and admin routes, the pattern of UUID path
//! parameters) is added here, from the same scope constant that mounts
//! the middleware.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::web::Json;
use actix_web::{get, web, App, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::admin;
use super::error::ErrorBody;

/// The name of the bearer-token security scheme of the admin API.
const ADMIN_SECURITY: &str = "admin_token";
/// Where the document is served.
const OPENAPI_PATH: &str = "/openapi.json";
/// Where Swagger UI is served.
const DOCS_PATH: &str = "/docs/";

/// What the route list does not say: the title, the description and the
/// tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pricesync",
        description = "Keeps LLM model prices correct and current: the read API for the \
            gateway, the admin API (bearer token) and the operations endpoints. Every error \
            is JSON `{ \"error\": code, \"message\": text }`."
    ),
    tags(
        (name = "read", description = "Current prices, price cards at an instant, their \
            history and the cost of usages, for the gateway. GET answers carry a weak ETag; \
            send it back in If-None-Match to get 304."),
        (name = "admin", description = "Sync control and locks. Every route needs \
            `Authorization: Bearer <token>` (PRICESYNC_ADMIN_TOKENS)."),
        (name = "ops", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// Adds the admin API's bearer-token security scheme.
struct AdminSecurity;

impl Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_SECURITY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token of PRICESYNC_ADMIN_TOKENS (`name:token` pairs): \
                         send `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Marks the trigger body optional without allowing JSON `null` (an
/// `Option` body would document `null`, which the server refuses).
struct OptionalTriggerBody;

impl Modify for OptionalTriggerBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(operation) = item.post.as_mut() else {
                continue;
            };
            let is_trigger = matches!(
                operation.operation_id.as_deref(),
                Some("scheduler_trigger" | "sync_trigger")
            );
            if let (true, Some(body)) = (is_trigger, operation.request_body.as_mut()) {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// Security by scope: [`super::auth::require_admin`] guards exactly the
/// admin scope, so its operations need the token and may answer 401 with
/// `WWW-Authenticate`; every other operation is public (`security: []`).
struct SecurityByScope;

impl Modify for SecurityByScope {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for_each_operation(openapi, |path, operation| {
            if path.starts_with(&format!("{}/", admin::SCOPE)) {
                require_admin_token(operation);
            } else {
                operation.security = Some(Vec::new());
            }
        });
    }
}

/// Every read and admin operation reads the database, so each may answer
/// 503 (`unavailable`, with `Retry-After`) when it does not answer or the
/// pool is exhausted: written here once rather than on each handler. The
/// ops routes say what their own 503 means, or have none.
struct DatabaseUnavailable;

impl Modify for DatabaseUnavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for_each_operation(openapi, |_, operation| {
            let ops = operation
                .tags
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|t| t == "ops"));
            if ops {
                return;
            }
            operation
                .responses
                .responses
                .entry("503".to_owned())
                .or_insert_with(|| {
                    error_response(
                        "The database is unavailable; retry.",
                        "Retry-After",
                        header(u64::schema(), "Seconds to wait."),
                    )
                    .into()
                });
        });
    }
}

/// Every path parameter documented as a UUID gets the pattern of one, so
/// that a client generated from the document checks it before sending
/// (the server answers 400 `invalid_id` otherwise).
struct UuidPathPattern;

/// A UUID in its hyphenated form, any case.
const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

impl Modify for UuidPathPattern {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for_each_operation(openapi, |_, operation| {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.parameter_in != ParameterIn::Path {
                    continue;
                }
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                    if schema.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)) {
                        schema.pattern = Some(UUID_PATTERN.to_owned());
                    }
                }
            }
        });
    }
}

/// Calls `visit` with every operation of the document and its path.
fn for_each_operation(
    openapi: &mut utoipa::openapi::OpenApi,
    mut visit: impl FnMut(&str, &mut Operation),
) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            visit(path, operation);
        }
    }
}

fn require_admin_token(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new::<_, _, &str>(
        ADMIN_SECURITY,
        [],
    )]);
    let unauthorized = error_response(
        "No valid admin token (or none is configured).",
        "WWW-Authenticate",
        header(String::schema(), "`Bearer realm=\"pricesync-admin\"`."),
    );
    operation
        .responses
        .responses
        .insert("401".to_owned(), unauthorized.into());
    // The admin scope's concurrency limit (`super::auth::limit_admin`) may
    // answer any admin operation 429 with an error body; the trigger's own
    // 429 (a sync in the way) gets it as an alternative body.
    let overloaded_body = Ref::from_schema_name(ErrorBody::name());
    let retry_after = header(u64::schema(), "Seconds to wait before retrying.");
    match operation.responses.responses.get_mut("429") {
        Some(utoipa::openapi::RefOr::T(existing)) => {
            for content in existing.content.values_mut() {
                if let Some(schema) = content.schema.take() {
                    content.schema = Some(
                        utoipa::openapi::schema::OneOfBuilder::new()
                            .item(schema)
                            .item(overloaded_body.clone())
                            .into(),
                    );
                }
            }
            existing.description.push_str(
                " Or: too many admin requests in progress at once (error `admin_overloaded`, \
                 PRICESYNC_ADMIN_CONCURRENCY).",
            );
            existing
                .headers
                .entry("Retry-After".to_owned())
                .or_insert(retry_after);
        }
        _ => {
            let overloaded = error_response(
                "Too many admin requests in progress at once (error `admin_overloaded`, \
                 PRICESYNC_ADMIN_CONCURRENCY): retry after `Retry-After` seconds.",
                "Retry-After",
                retry_after,
            );
            operation
                .responses
                .responses
                .insert("429".to_owned(), overloaded.into());
        }
    }
}

/// A response with the JSON error body and one header.
fn error_response(
    description: &str,
    header_name: &str,
    header: utoipa::openapi::header::Header,
) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .header(header_name, header)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// A response header of this schema.
fn header(
    schema: impl Into<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    description: &str,
) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

/// The document of the routes [`super::routes`] registers, built once.
pub(crate) fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut document) = App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(super::routes)
            .split_for_parts();
        for modifier in [
            &AdminSecurity as &dyn Modify,
            &SecurityByScope,
            &DatabaseUnavailable,
            &OptionalTriggerBody,
            &UuidPathPattern,
        ] {
            modifier.modify(&mut document);
        }
        document
    })
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    tag = "ops",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3 document of this server.",
        content_type = "application/json", body = Object)),
)]
#[get("/openapi.json")]
pub(crate) async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

/// `GET /docs`: to Swagger UI, whose pages load their assets relative to
/// `/docs/`.
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, DOCS_PATH))
        .finish()
}

/// Registers Swagger UI under `/docs/` (its assets are compiled in) and the
/// redirect from `/docs`: pages for people, outside the document.
pub(crate) fn configure_ui(cfg: &mut web::ServiceConfig) -> &mut web::ServiceConfig {
    cfg.service(
        SwaggerUi::new(format!("{DOCS_PATH}{{_:.*}}"))
            // No call to the public validator service: it would send the
            // internal spec URL out of the network.
            .config(Config::from(OPENAPI_PATH).validator_url("none")),
    )
    .route("/docs", web::get().to(docs_redirect))
}
