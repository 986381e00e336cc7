//! The dev token issuer that stands in for Auth0 locally: a JWKS, a minimal OpenID discovery
//! document and an OAuth2 client-credentials endpoint (`POST /oauth/token`, form or JSON body,
//! as Auth0 accepts), so that existing clients (`cis_client`, the notifier, publishers) work
//! against it unchanged. DEV ONLY: it signs whatever its configured clients ask for.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use cis_config::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;

/// How long tokens from `/oauth/token` live (Auth0's default for APIs is 86400 s).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(86_400);

/// A client allowed to use the client-credentials grant.
#[derive(Debug, Clone)]
pub struct DevClient {
    pub secret: Secret<String>,
    /// Audiences this client may request tokens for.
    pub audiences: BTreeSet<String>,
    /// Scopes granted; a request may narrow them with `scope`.
    pub scopes: BTreeSet<String>,
}

/// An RSA signing key with its `kid`, plus the registered clients.
pub struct DevIssuer {
    issuer: String,
    kid: String,
    encoding_key: EncodingKey,
    n: Vec<u8>,
    e: Vec<u8>,
    private_pem: Secret<String>,
    clients: HashMap<String, DevClient>,
    token_ttl: Duration,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str) -> Option<(String, Vec<u8>)> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_owned());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label?, der))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DevIssuer {
    /// A fresh RSA-2048 key. `issuer_url` is the base URL the issuer is served at, e.g.
    /// `http://127.0.0.1:8765`; tokens carry `iss` = that URL with a trailing `/`, like Auth0.
    pub fn generate(issuer_url: &str) -> Result<Self, ApiError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| ApiError::Setup("RSA key generation failed".into()))?;
        let der: Pkcs8V1Der<'static> = pair
            .as_der()
            .map_err(|_| ApiError::Setup("RSA key export failed".into()))?;
        let pem = pem_encode("PRIVATE KEY", der.as_ref());
        Self::from_parts(issuer_url, &pair, pem)
    }

    /// Load an RSA private key PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn from_pem(issuer_url: &str, pem: &str) -> Result<Self, ApiError> {
        let (label, der) =
            pem_decode(pem).ok_or_else(|| ApiError::Setup("not a PEM document".into()))?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => KeyPair::from_der(&der),
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der),
            other => return Err(ApiError::Setup(format!("unsupported PEM type {other}"))),
        }
        .map_err(|e| ApiError::Setup(format!("RSA private key rejected: {e}")))?;
        Self::from_parts(issuer_url, &pair, pem.to_owned())
    }

    fn from_parts(issuer_url: &str, pair: &KeyPair, pem: String) -> Result<Self, ApiError> {
        let encoding_key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| ApiError::Setup(format!("RSA private key rejected: {e}")))?;
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        // A stable kid per key, so restarts with the same PEM keep tokens valid.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &n);
        let kid: String = digest.as_ref()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            issuer: format!("{}/", issuer_url.trim_end_matches('/')),
            kid,
            encoding_key,
            n,
            e,
            private_pem: Secret::new(pem),
            clients: HashMap::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
        })
    }

    /// Register a client for the client-credentials grant.
    pub fn with_client<A, S>(
        mut self,
        client_id: &str,
        secret: &str,
        audiences: A,
        scopes: S,
    ) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        S: IntoIterator,
        S::Item: Into<String>,
    {
        self.clients.insert(
            client_id.to_owned(),
            DevClient {
                secret: Secret::new(secret.to_owned()),
                audiences: audiences.into_iter().map(Into::into).collect(),
                scopes: scopes.into_iter().map(Into::into).collect(),
            },
        );
        self
    }

    /// Lifetime of tokens issued by `/oauth/token`.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// `iss` of issued tokens (with the trailing `/`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PEM, to persist a generated key (local mode keeps it across restarts).
    pub fn private_key_pem(&self) -> &Secret<String> {
        &self.private_pem
    }

    /// `<issuer>.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}.well-known/jwks.json", self.issuer)
    }

    pub fn token_url(&self) -> String {
        format!("{}oauth/token", self.issuer)
    }

    /// The public JWKS (one RS256 signing key).
    pub fn jwks(&self) -> Value {
        json!({
            "keys": [{
                "alg": "RS256",
                "kty": "RSA",
                "use": "sig",
                "kid": self.kid,
                "n": b64url(&self.n),
                "e": b64url(&self.e),
            }]
        })
    }

    /// Mint a bearer token (what `cis token --scopes "..."` prints).
    pub fn mint<I>(
        &self,
        subject: &str,
        audience: &str,
        scopes: I,
        ttl: Duration,
    ) -> Result<String, ApiError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let now = now_secs();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(subject));
        claims.insert("aud".into(), json!(audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl.as_secs()));
        let scope = scopes
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        if !scope.is_empty() {
            claims.insert("scope".into(), json!(scope));
        }
        self.sign(&Value::Object(claims))
    }

    /// Sign arbitrary claims with this issuer's key and kid (tests craft bad tokens with it).
    pub fn sign(&self, claims: &Value) -> Result<String, ApiError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
            .map_err(|e| ApiError::Setup(format!("signing failed: {e}")))
    }

    /// `GET /.well-known/jwks.json`, `GET /.well-known/openid-configuration`,
    /// `POST /oauth/token`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/jwks.json", get(jwks_handler))
            .route("/.well-known/openid-configuration", get(openid_handler))
            .route("/oauth/token", post(token_handler))
            .with_state(self)
    }

    fn client_credentials(&self, req: TokenRequest) -> Result<Value, OAuthError> {
        match req.grant_type.as_deref() {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    StatusCode::FORBIDDEN,
                    "unsupported_grant_type",
                    format!("Unsupported grant type: {other}"),
                ));
            }
            None => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: grant_type",
                ));
            }
        }
        let (Some(client_id), Some(secret)) = (req.client_id, req.client_secret) else {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "access_denied",
                "Unauthorized",
            ));
        };
        let client = self.clients.get(&client_id).filter(|c| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                c.secret.expose().as_bytes(),
                secret.as_bytes(),
            )
            .is_ok()
        });
        let Some(client) = client else {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "access_denied",
                "Unauthorized",
            ));
        };
        let audience = match req.audience {
            Some(a) => a,
            None if client.audiences.len() == 1 => {
                client.audiences.iter().next().cloned().unwrap_or_default()
            }
            None => {
                return Err(OAuthError::new(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    "No audience parameter was provided, and no default audience has been configured",
                ));
            }
        };
        if !client.audiences.contains(&audience) {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("Client is not authorized to access \"{audience}\"."),
            ));
        }
        let scopes: BTreeSet<String> = match req.scope {
            Some(requested) => {
                let requested: BTreeSet<String> =
                    requested.split_whitespace().map(str::to_owned).collect();
                let refused: Vec<&String> = requested.difference(&client.scopes).collect();
                if !refused.is_empty() {
                    return Err(OAuthError::new(
                        StatusCode::FORBIDDEN,
                        "access_denied",
                        format!(
                            "Client has not been granted scopes: {}",
                            refused
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                requested
            }
            None => client.scopes.clone(),
        };
        let mut claims = serde_json::Map::new();
        let now = now_secs();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(format!("{client_id}@clients")));
        claims.insert("aud".into(), json!(audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.token_ttl.as_secs()));
        claims.insert("azp".into(), json!(client_id));
        claims.insert("gty".into(), json!("client-credentials"));
        let scope = scopes.into_iter().collect::<Vec<_>>().join(" ");
        if !scope.is_empty() {
            claims.insert("scope".into(), json!(scope));
        }
        let token = self.sign(&Value::Object(claims)).map_err(|_| {
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "signing failed",
            )
        })?;
        let mut body = serde_json::Map::new();
        body.insert("access_token".into(), json!(token));
        if !scope.is_empty() {
            body.insert("scope".into(), json!(scope));
        }
        body.insert("expires_in".into(), json!(self.token_ttl.as_secs()));
        body.insert("token_type".into(), json!("Bearer"));
        Ok(Value::Object(body))
    }
}

/// An OAuth2 error in Auth0's shape `{"error","error_description"}`.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
}

async fn jwks_handler(State(issuer): State<Arc<DevIssuer>>) -> Response {
    axum::Json(issuer.jwks()).into_response()
}

async fn openid_handler(State(issuer): State<Arc<DevIssuer>>) -> Response {
    axum::Json(json!({
        "issuer": issuer.issuer,
        "jwks_uri": issuer.jwks_url(),
        "token_endpoint": issuer.token_url(),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
    .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn token_handler(
    State(issuer): State<Arc<DevIssuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Result<TokenRequest, String> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
        } else if content_type.starts_with("application/json") {
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        } else {
            // No or another content type: accept whichever of the two parses.
            serde_json::from_slice(&body)
                .or_else(|_| serde_urlencoded::from_bytes(&body))
                .map_err(|e| e.to_string())
        };
    let mut req = match parsed {
        Ok(r) => r,
        Err(e) => {
            return OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Invalid request body: {e}"),
            )
            .into_response();
        }
    };
    if req.client_id.is_none()
        && req.client_secret.is_none()
        && let Some((id, secret)) = basic_credentials(&headers)
    {
        req.client_id = Some(id);
        req.client_secret = Some(secret);
    }
    match issuer.client_credentials(req) {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}
