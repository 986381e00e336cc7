//! Running an axum router as a Lambda behind API Gateway (REST v1 and HTTP API v2 proxy events).

use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tower::ServiceBuilder;

/// JSON logs on stdout (CloudWatch), level from `RUST_LOG` (default `info`). Log lines carry
/// ids and outcomes only (B18); no profile values, emails or tokens are ever logged.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Serves `router` on the Lambda Runtime API until the runtime stops.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    let service = ServiceBuilder::new()
        .map_request(strip_stage)
        .service(router);
    lambda_http::run(service).await
}

/// The stage of the API Gateway event that carried `request`, unless it is `$default`.
fn stage(request: &Request) -> Option<String> {
    #[allow(unreachable_patterns)]
    let stage = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.clone(),
        RequestContext::ApiGatewayV2(context) => context.stage.clone(),
        _ => None,
    };
    stage.filter(|s| !s.is_empty() && s != "$default")
}

/// lambda_http puts the stage in front of the path (`/production/v2/user`) so that links can be
/// built from it; the routers know `/v2/...` only, whatever stage or custom domain serves them.
pub fn strip_stage(mut request: Request) -> Request {
    let Some(stage) = stage(&request) else {
        return request;
    };
    let prefix = format!("/{stage}");
    let uri = request.uri();
    let Some(rest) = uri.path().strip_prefix(&prefix) else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return request;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return request,
    }
    if let Ok(new_uri) = lambda_http::http::Uri::from_parts(parts) {
        *request.uri_mut() = new_uri;
    }
    request
}
