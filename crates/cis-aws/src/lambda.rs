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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use lambda_http::request::from_str;

    fn v1(stage: &str, path: &str) -> Request {
        let event = serde_json::json!({
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.us-west-2.amazonaws.com"},
            "multiValueHeaders": {"Host": ["abc.execute-api.us-west-2.amazonaws.com"]},
            "queryStringParameters": {"user_id": "a|b"},
            "multiValueQueryStringParameters": {"user_id": ["a|b"]},
            "requestContext": {"stage": stage, "path": format!("/{stage}{path}"), "httpMethod": "GET", "accountId": "1", "resourceId": "r", "requestId": "id", "apiId": "abc", "identity": {}},
            "body": null,
            "isBase64Encoded": false
        });
        from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_stage_is_removed_and_the_query_kept() {
        let before = v1("production", "/v2/user");
        assert_eq!(before.uri().path(), "/production/v2/user");
        let query = before.uri().query().map(str::to_owned);
        assert!(query.as_deref().unwrap().starts_with("user_id="));
        let request = strip_stage(before);
        assert_eq!(request.uri().path(), "/v2/user");
        assert_eq!(request.uri().query(), query.as_deref());
    }

    #[test]
    fn default_stage_and_other_prefixes_are_left_alone() {
        let request = strip_stage(v1("$default", "/v2/user"));
        assert_eq!(request.uri().path(), "/v2/user");
        // `/prod` is not a segment prefix of `/production-x/...`.
        let request = strip_stage(v1("prod", "/v2/users"));
        assert_eq!(request.uri().path(), "/v2/users");
    }
}
