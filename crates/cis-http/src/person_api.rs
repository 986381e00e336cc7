//! The Person API router (person-api spec §3; DECISIONS A6, A9, B1, B13–B15, C6): the same
//! paths, parameters and response shapes as the Python profile retrieval service, with JSON
//! 400/401/403 instead of its blanket 500s.
//!
//! Nothing here is socket-specific: `cis serve` binds it, the `person` Lambda runs it through
//! `lambda_http`, and the tests drive it with `tower::ServiceExt::oneshot`.
//!
//! | route | auth |
//! |---|---|
//! | `GET /v2`, `/v2/version`, `/v2/openapi.json` | none |
//! | `GET /v2/user/{user_id,uuid,primary_email,primary_username}/<id>` | token |
//! | `GET /v2/user/metadata/<email>` | token, unless `public_metadata` (B13) |
//! | `GET /v2/users`, `/v2/users/id/all` | token |
//! | `GET /v2/users/id/all/by_attribute_contains` (only with `advanced_search`) | token + `search:all` |
//!
//! Profiles are filtered by the caller's scopes with `cis_profile::filter_profile` (through
//! `cis_core::person::View`), the function `cis profile filter` runs.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cis_core::person::{
    ActiveFilter, AttributeSearch, IdListing, ListUsers, PersonError, PersonService, QueryParams,
    SearchHit, Selector, View, decode_path_id, parse_users_next_page, users_next_page_json,
};
use cis_vault::{UserIdEntry, VaultError};
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{AuthRequirement, AuthenticatedCaller, Validator};
use crate::error::{ApiError, json_error_bodies, with_json_fallbacks};

/// The OpenAPI 3.0 document describing the Person and Change APIs (C6), served at
/// `/v2/openapi.json` by both routers.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The original's `__version__`; kept because probes and clients read `/v2/version`.
pub const PERSON_API_VERSION: &str = "0.0.1";

/// The scope `by_attribute_contains` requires.
pub const SEARCH_SCOPE: &str = "search:all";

/// Everything the Person API router needs.
#[derive(Clone)]
pub struct PersonApiState {
    pub service: Arc<PersonService>,
    /// Validates bearer tokens. `None` turns authentication off: every request is anonymous and
    /// sees only what no scope grants (PUBLIC, display `public`); `by_attribute_contains` is then
    /// always 403. Meant for a local store of fake data, never for a deployment.
    pub validator: Option<Arc<Validator>>,
    /// `PERSON_API_PUBLIC_METADATA`: serve `/v2/user/metadata/<email>` without a token, as the
    /// original did (B13: off by default, because it lets anyone probe for addresses).
    pub public_metadata: bool,
    /// `PERSON_API_ADVANCED_SEARCH`: mount `by_attribute_contains`.
    pub advanced_search: bool,
}

impl PersonApiState {
    /// Metadata behind a token, advanced search off (the original defaults).
    pub fn new(service: Arc<PersonService>, validator: Option<Arc<Validator>>) -> Self {
        Self {
            service,
            validator,
            public_metadata: false,
            advanced_search: false,
        }
    }

    /// The state `PERSON_API_*` asks for: `PERSON_API_PUBLIC_METADATA` and
    /// `PERSON_API_ADVANCED_SEARCH` from `settings`; the validator is built by the caller (from
    /// `settings.auth`) so that tests and local mode can plug in their own JWKS source.
    pub fn from_settings(
        service: Arc<PersonService>,
        validator: Option<Arc<Validator>>,
        settings: &cis_config::PersonSettings,
    ) -> Self {
        Self {
            service,
            validator,
            public_metadata: settings.public_metadata,
            advanced_search: settings.advanced_search,
        }
    }
}

type AppState = Arc<PersonApiState>;

/// The Person API as an axum router with its state applied.
pub fn router(state: PersonApiState) -> Router {
    let advanced_search = state.advanced_search;
    let mut routes = Router::new()
        .route("/v2", get(root))
        .route("/v2/version", get(version))
        .route("/v2/openapi.json", get(openapi))
        .route("/v2/user/user_id/{id}", get(by_user_id))
        .route("/v2/user/uuid/{id}", get(by_uuid))
        .route("/v2/user/primary_email/{id}", get(by_primary_email))
        .route("/v2/user/primary_username/{id}", get(by_primary_username))
        .route("/v2/user/metadata/{email}", get(metadata))
        .route("/v2/users", get(users))
        .route("/v2/users/id/all", get(ids_all));
    if advanced_search {
        routes = routes.route(
            "/v2/users/id/all/by_attribute_contains",
            get(by_attribute_contains),
        );
    }
    with_json_fallbacks(routes)
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(cors())
        .with_state(Arc::new(state))
}

/// flask-cors as the original configured it: the request origin is reflected, with credentials;
/// preflights are answered without authentication.
fn cors() -> CorsLayer {
    const HEADERS: [&str; 10] = [
        "x-requested-with",
        "content-type",
        "accept",
        "origin",
        "authorization",
        "x-csrftoken",
        "withcredentials",
        "cache-control",
        "cookie",
        "session-id",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(HEADERS.map(HeaderName::from_static))
}

async fn root() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        "Mozilla Profile Retrieval Service Endpoint",
    )
        .into_response()
}

async fn version() -> Json<Value> {
    Json(json!({ "message": PERSON_API_VERSION }))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

/// Authenticate the request. `Ok(None)` is an anonymous caller: no validator configured, or an
/// anonymous-allowed route called without an `Authorization` header.
async fn authorize(
    state: &PersonApiState,
    headers: &HeaderMap,
    allow_anonymous: bool,
) -> Result<Option<AuthenticatedCaller>, ApiError> {
    let Some(validator) = &state.validator else {
        return Ok(None);
    };
    let requirement = if allow_anonymous {
        AuthRequirement::anonymous_allowed()
    } else {
        AuthRequirement::authenticated()
    };
    requirement.check(validator, headers).await
}

fn view(caller: Option<&AuthenticatedCaller>, params: &QueryParams) -> View {
    let scopes: Vec<&str> = caller
        .map(|c| c.scopes.iter().map(String::as_str).collect())
        .unwrap_or_default();
    // An empty `filterDisplay=` is no filter, as the original's truthiness test had it.
    let filter_display = params
        .first("filterDisplay")
        .filter(|level| !level.is_empty());
    View::new(&scopes, filter_display)
}

fn query_params(raw: Option<String>) -> Result<QueryParams, ApiError> {
    match raw {
        None => Ok(QueryParams::default()),
        Some(text) => serde_urlencoded::from_str::<Vec<(String, String)>>(&text)
            .map(QueryParams)
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("Query string could not be parsed: {e}"),
                )
            }),
    }
}

fn path_value(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(value)| value).map_err(|rejection| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("Path could not be decoded: {}", rejection.body_text()),
        )
    })
}

/// Map a use-case failure to an answer. 4xx name the parameter; vault failures are 5xx whose
/// detail (user_ids at most, never profile values) is only logged.
fn person_error(error: PersonError) -> ApiError {
    match error {
        PersonError::InvalidParameter { name, reason } => ApiError::bad_request(
            "invalid_parameter",
            format!("Invalid parameter {name}: {reason}"),
        ),
        PersonError::Vault(VaultError::InvalidInput { field, reason }) => ApiError::bad_request(
            "invalid_parameter",
            format!("Invalid parameter {field}: {reason}"),
        ),
        PersonError::Vault(e @ VaultError::Unavailable { .. }) => {
            ApiError::unavailable("vault_unavailable", e.to_string())
        }
        PersonError::Vault(e) => ApiError::internal(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// R3–R6: single user.

async fn lookup(
    state: AppState,
    selector: Selector,
    path: Result<Path<String>, PathRejection>,
    raw_query: Option<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, false).await?;
    let id = decode_path_id(&path_value(path)?);
    let params = query_params(raw_query)?;
    let active = ActiveFilter::parse(params.first("active")).map_err(person_error)?;
    let view = view(caller.as_ref(), &params);
    let found = state
        .service
        .get_user_json(selector, &id, active, &view)
        .await
        .map_err(person_error)?;
    let body = found.unwrap_or_else(|| b"{}".to_vec());
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

async fn by_user_id(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    lookup(state, Selector::UserId, path, query, headers).await
}

async fn by_uuid(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    lookup(state, Selector::Uuid, path, query, headers).await
}

async fn by_primary_email(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    lookup(state, Selector::PrimaryEmail, path, query, headers).await
}

async fn by_primary_username(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    lookup(state, Selector::PrimaryUsername, path, query, headers).await
}

// ---------------------------------------------------------------------------------------------
// R7: metadata.

async fn metadata(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, state.public_metadata).await?;
    // No second decoding here, as in the original.
    let email = path_value(path)?;
    let found = state.service.metadata(&email).await.map_err(person_error)?;
    Ok(Json(
        json!({ "exists": { "cis": found.cis, "ldap": found.ldap } }),
    ))
}

// ---------------------------------------------------------------------------------------------
// R8: paged full profiles.

async fn users(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = authorize(&state, &headers, false).await?;
    let params = query_params(query)?;
    let request = ListUsers {
        primary_email: params
            .first("primaryEmail")
            .filter(|email| !email.is_empty())
            .map(str::to_owned),
        active: ActiveFilter::parse(params.first("active")).map_err(person_error)?,
        after: params
            .first("nextPage")
            .filter(|raw| !raw.trim().is_empty() && raw.trim() != "null" && raw.trim() != "None")
            .map(parse_users_next_page)
            .transpose()
            .map_err(person_error)?,
    };
    let view = view(caller.as_ref(), &params);
    let page = state
        .service
        .list_users(request, &view)
        .await
        .map_err(person_error)?;
    Ok(Json(json!({
        "Items": page.items,
        "nextPage": page.next.as_ref().map(users_next_page_json),
    })))
}

// ---------------------------------------------------------------------------------------------
// R9: every id.

/// The R9 answer: `{"users": [{"user_id","uuid","primary_email","active"}…], "nextPage": null}`.
#[derive(Serialize)]
struct IdsAll {
    users: Vec<UserIdEntry>,
    #[serde(rename = "nextPage")]
    next_page: Option<String>,
}

async fn ids_all(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<IdsAll>, ApiError> {
    authorize(&state, &headers, false).await?;
    let params = query_params(query)?;
    let connection_method = params
        .first("connectionMethod")
        .filter(|method| !method.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                "Invalid parameter connectionMethod: is required (e.g. ad, email, github, \
                 google-oauth2, oauth2)",
            )
        })?
        .to_owned();
    let request = IdListing {
        connection_method,
        active: ActiveFilter::parse(params.first("active")).map_err(person_error)?,
    };
    // `nextPage` is accepted and ignored: the whole set always comes back in one answer and
    // `nextPage` is always null, as in the original (whose input cursor only lost data).
    let started = std::time::Instant::now();
    let active = request.active;
    let entries = state
        .service
        .list_user_ids(request)
        .await
        .map_err(person_error)?;
    // This listing is what timed out in production (IAM-1668): keep its cost visible.
    tracing::info!(
        route = "/v2/users/id/all",
        active = ?active,
        users = entries.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "id listing served"
    );
    // Serialized straight from the entries: building a `Value` per user first tripled the
    // cost of a 100,000-user answer.
    Ok(Json(IdsAll {
        users: entries,
        next_page: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// R10: advanced search.

async fn by_attribute_contains(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = authorize(&state, &headers, false).await?;
    if !caller.as_ref().is_some_and(|c| c.has_scope(SEARCH_SCOPE)) {
        return Err(ApiError::scope_missing(SEARCH_SCOPE));
    }
    let params = query_params(query)?;
    let search = AttributeSearch::from_params(&params).map_err(person_error)?;
    let view = view(caller.as_ref(), &params);
    let page = state
        .service
        .search(search, &view)
        .await
        .map_err(person_error)?;
    let users: Vec<Value> = page.users.into_iter().map(search_hit_json).collect();
    Ok(Json(json!({
        "users": users,
        "nextPage": page.next.map(|token| token.into_string()),
    })))
}

fn search_hit_json(hit: SearchHit) -> Value {
    match (hit.id_attribute, hit.profile) {
        (Some(id), Some(profile)) => json!({ "id": id, "profile": profile }),
        _ => json!({ "id": hit.user_id }),
    }
}
