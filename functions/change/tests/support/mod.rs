//! Shared by the change and person Lambda tests (the person tests include this file by path):
//! moto (DynamoDB + SSM), a served well-known document, the dev token issuer as "Auth0", API
//! Gateway proxy events (REST v1 and HTTP API v2) and reading the Lambda's response event.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssm::types::ParameterType;
use cis_crypto::{PUBLISHERS, Signer, public_jwk_from_pem};
use cis_http::DevIssuer;
use cis_profile::{FakeOptions, LoginMethod, fake_profile};
use cis_vault_dynamodb::{DynamoVault, DynamoVaultConfig, VaultTableSpec, ensure_vault};
use serde_json::{Value, json};

pub const SALT: &str = "lambda-test-salt";
pub const REGION: &str = "us-west-2";

/// The moto endpoint, or `None` after saying loudly why the test is skipped.
pub fn moto_endpoint(test: &str) -> Option<String> {
    let endpoint = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        eprintln!(
            "SKIPPED {test}: neither CIS_TEST_DYNAMODB_ENDPOINT nor AWS_ENDPOINT_URL is set; \
             run `eval \"$(ci/moto.sh start)\"` first (ci/test.sh does)"
        );
    }
    endpoint
}

pub fn reference(path: &str) -> String {
    let full = format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The project's dev `cis` key: what the test stores in SSM as the CIS signing key.
pub fn cis_pem() -> String {
    let path = format!(
        "{}/../../well-known/dev-keys/cis.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn key0_pem() -> String {
    reference("keys/fake-publisher-key_0.priv.pem")
}

/// Every publisher but `cis` signs with fake-publisher-key_0, as the original tests do; `cis`
/// (some fake attributes are CIS's) with the dev `cis` key the function also gets from SSM.
pub fn publisher_signer() -> Signer {
    let others: Vec<&str> = PUBLISHERS.into_iter().filter(|p| *p != "cis").collect();
    Signer::new()
        .with_same_key(&others, &key0_pem())
        .unwrap()
        .with_key_text("cis", &cis_pem())
        .unwrap()
}

/// A well-known document: key_0 for the publishers, the dev `cis` key for `cis`, so a CIS
/// signature verifies only if the function really signed with the key it read from SSM.
pub fn well_known_document() -> Value {
    let mut jwks = serde_json::Map::new();
    for publisher in PUBLISHERS {
        let pem = if publisher == "cis" {
            cis_pem()
        } else {
            key0_pem()
        };
        let jwk = public_jwk_from_pem(&pem, &format!("{publisher}-test")).unwrap();
        jwks.insert(publisher.to_owned(), json!({ "keys": [jwk] }));
    }
    json!({ "api": { "publishers_jwks": jwks } })
}

/// Serves `router` on a free port of 127.0.0.1 for the rest of the test.
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// The dev issuer served on 127.0.0.1: the functions' "Auth0".
pub async fn dev_issuer() -> (Arc<DevIssuer>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = Arc::new(DevIssuer::generate(&base).unwrap());
    serve(listener, issuer.clone().router()).await;
    (issuer, base)
}

/// The well-known document served on 127.0.0.1; returns its URL.
pub async fn serve_well_known() -> String {
    let document = well_known_document();
    let router = axum::Router::new().route(
        "/.well-known/mozilla-iam",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = serve(listener, router).await;
    format!("http://{addr}/.well-known/mozilla-iam")
}

pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(endpoint)
            .build(),
    )
}

pub fn ssm_client(endpoint: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new(REGION))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(endpoint)
            .build(),
    )
}

pub async fn put_secret(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// An environment name (and so a table) no other test or run uses.
pub fn unique_environment(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Creates `<environment>-identity-vault` on moto and returns a vault handle on it.
pub async fn vault(endpoint: &str, environment: &str) -> DynamoVault {
    let client = dynamodb_client(endpoint);
    let table = format!("{environment}-identity-vault");
    let mut spec = VaultTableSpec::for_table(table.clone(), environment);
    spec.poll_interval = Duration::from_millis(100);
    spec.max_wait = Duration::from_secs(60);
    ensure_vault(&client, &spec).await.unwrap();
    DynamoVault::new(client, &DynamoVaultConfig::new(table))
}

/// The AWS part of a function's environment: moto with dummy credentials.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn as_pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A full, signed profile of a new staff user (no uuid, no primary_username).
pub fn new_user(seed: u64) -> Value {
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    publisher_signer().sign_profile(&mut profile, None).unwrap();
    profile
}

pub fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// API Gateway events, shaped as the AWS documentation and the aws_lambda_events fixtures show.

/// One HTTP request, rendered as either event version.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    pub method: String,
    /// Path as the client sent it (percent-encoded where needed).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self.header("Content-Type", "application/json")
    }

    /// A REST API (v1) proxy event from the stage `stage`. API Gateway hands the path
    /// percent-decoded in `path` and the stage separately.
    pub fn v1(&self, stage: &str) -> Value {
        let decoded = percent_decode(&self.path);
        let mut headers = serde_json::Map::new();
        let mut multi_headers = serde_json::Map::new();
        for (name, value) in self.headers.iter().chain(default_headers().iter()) {
            headers.insert(name.clone(), json!(value));
            multi_headers.insert(name.clone(), json!([value]));
        }
        let mut query = serde_json::Map::new();
        let mut multi_query = serde_json::Map::new();
        for (name, value) in &self.query {
            query.insert(name.clone(), json!(value));
            multi_query
                .entry(name.clone())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(json!(value));
        }
        let or_null = |m: serde_json::Map<String, Value>| {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        };
        json!({
            "resource": "/{proxy+}",
            "path": decoded,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": or_null(query),
            "multiValueQueryStringParameters": or_null(multi_query),
            "pathParameters": {"proxy": decoded.trim_start_matches('/')},
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "resourceId": "roq9wj",
                "path": format!("/{stage}{decoded}"),
                "stage": stage,
                "domainName": "abcdef1234.execute-api.us-west-2.amazonaws.com",
                "domainPrefix": "abcdef1234",
                "requestId": uuid::Uuid::new_v4().to_string(),
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "192.0.2.10", "userAgent": "cis-lambda-test"},
                "resourcePath": "/{proxy+}",
                "httpMethod": self.method,
                "apiId": "abcdef1234",
                "requestTimeEpoch": 1_764_763_200_000u64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    /// An HTTP API (v2) proxy event on the `$default` stage: the raw path and query string as
    /// sent, headers lower-cased.
    pub fn v2(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in self.headers.iter().chain(default_headers().iter()) {
            headers.insert(name.to_ascii_lowercase(), json!(value));
        }
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut query = serde_json::Map::new();
        for (name, value) in &self.query {
            query.insert(name.clone(), json!(value));
        }
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": headers,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abcdef1234",
                "domainName": "abcdef1234.execute-api.us-west-2.amazonaws.com",
                "domainPrefix": "abcdef1234",
                "http": {
                    "method": self.method,
                    "path": percent_decode(&self.path),
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.10",
                    "userAgent": "cis-lambda-test"
                },
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": "$default",
                "stage": "$default",
                "time": "03/Dec/2026:12:00:00 +0000",
                "timeEpoch": 1_764_763_200_000u64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }
}

fn default_headers() -> Vec<(String, String)> {
    vec![
        (
            "Host".into(),
            "abcdef1234.execute-api.us-west-2.amazonaws.com".into(),
        ),
        ("User-Agent".into(), "cis-lambda-test".into()),
        ("X-Forwarded-Proto".into(), "https".into()),
    ]
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Lambda's answer to an API Gateway event.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub raw: Value,
    pub body: Value,
}

impl Reply {
    pub fn from_event(raw: Value) -> Self {
        let status = raw["statusCode"].as_u64().expect("statusCode") as u16;
        assert_eq!(
            raw["isBase64Encoded"],
            json!(false),
            "JSON must come back as text: {raw}"
        );
        let text = raw["body"].as_str().unwrap_or("");
        let body = serde_json::from_str(text).unwrap_or_else(|_| json!({ "text": text }));
        Self { status, raw, body }
    }

    /// A response header, from `headers` (v2) or `multiValueHeaders` (v1).
    pub fn header(&self, name: &str) -> Option<String> {
        let find = |map: &Value| {
            map.as_object().and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            })
        };
        match find(&self.raw["headers"]) {
            Some(Value::String(s)) => Some(s),
            _ => match find(&self.raw["multiValueHeaders"]) {
                Some(Value::Array(values)) => {
                    values.first().and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            },
        }
    }

    /// `{"code","description"}` error body with this status.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["code"], json!(code), "{self:?}");
        assert!(self.body["description"].is_string(), "{self:?}");
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{self:?}");
    }
}

/// Invokes the function with `event` and reads its API Gateway response.
pub async fn call(emulator: &cis_lambda_emulator::LambdaEmulator, event: Value) -> Reply {
    let raw = emulator
        .invoke(event, Duration::from_secs(60))
        .await
        .expect("the function answers");
    Reply::from_event(raw)
}

/// What a change-pipeline function needs on moto: the CIS key and the uuid salt in SSM, a served
/// well-known document, the dev issuer as Auth0, and the environment naming all of it (plus the
/// vault table of `environment`). Tests push their own flags (`CIS_STREAM_BYPASS`, ...) on `env`.
pub struct ChangeDeployment {
    pub env: Vec<(String, String)>,
    pub issuer: Arc<DevIssuer>,
}

pub async fn change_deployment(
    endpoint: &str,
    environment: &str,
    audience: &str,
) -> ChangeDeployment {
    let ssm = ssm_client(endpoint);
    let key_path = format!("/iam/cis/{environment}/keys");
    let salt_parameter = format!("/iam/cis/{environment}/uuid_salt");
    put_secret(&ssm, &format!("{key_path}/cis"), &cis_pem()).await;
    put_secret(&ssm, &salt_parameter, SALT).await;
    let well_known = serve_well_known().await;
    let (issuer, issuer_base) = dev_issuer().await;
    let mut env = aws_env(endpoint);
    for (k, v) in [
        ("CIS_ENVIRONMENT", environment.to_owned()),
        (
            "CIS_DYNAMODB_ARN",
            format!("arn:aws:dynamodb:us-west-2:123456789012:table/{environment}-identity-vault"),
        ),
        ("CIS_SECRET_MANAGER", "aws-ssm".into()),
        ("CIS_SECRET_MANAGER_SSM_PATH", key_path),
        ("CIS_SECRET_MANAGER_SSM_UUID_SALT", salt_parameter),
        ("CIS_WELL_KNOWN_MODE", "https".into()),
        ("CIS_DISCOVERY_URL", well_known),
        ("CIS_PUBLIC_KEY_NAME", "publisher".into()),
        ("CHANGE_SERVICE_AUTH0_DOMAIN", issuer_base),
        ("CHANGE_SERVICE_API_IDENTIFIER", audience.to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    ChangeDeployment { env, issuer }
}
