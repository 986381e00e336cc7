//! Bearer-token authentication (DECISIONS B1-B3).
//!
//! * RS256 only; `exp`, `aud`, `iss` and `sub` required and checked.
//! * The issuer's JWKS is cached for a TTL, refetched when a token names an unknown `kid` (at most
//!   once per `jwks_min_refresh_interval`, so a flood of random kids cannot hammer the issuer),
//!   fetched with a timeout; a stale cache keeps serving while the issuer is unreachable.
//! * Failures are JSON 401s with the original codes (`authorization_header_missing`,
//!   `invalid_header`, `token_expired`, `invalid_claims`), a missing scope is a 403
//!   `scope_missing`, an unreachable issuer with nothing cached a 503. Never a 500.
//! * Tokens are never logged.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

pub use cis_config::AuthSettings;

use crate::ApiError;

/// Original descriptions (change-api-and-vault §3.7), kept byte for byte.
pub const DESC_HEADER_MISSING: &str = "Authorization header is expected";
pub const DESC_NOT_BEARER: &str = "Authorization header must start with Bearer";
pub const DESC_TOKEN_NOT_FOUND: &str = "Token not found";
pub const DESC_NOT_BEARER_TOKEN: &str = "Authorization header must be Bearer token";
pub const DESC_EXPIRED: &str = "token is expired";
pub const DESC_BAD_CLAIMS: &str = "incorrect claims,please check the audience and issuer";
pub const DESC_UNPARSABLE: &str = "Unable to parse authentication token.";
pub const DESC_NO_KEY: &str = "Unable to find appropriate key";

/// The claims of a verified token that the services use.
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: Vec<String>,
    pub exp: u64,
    /// Union of the space-separated `scope` claim (what Auth0 puts in client-credentials tokens
    /// and what the original read) and the `scp`/`permissions` arrays (Auth0 RBAC).
    pub scopes: BTreeSet<String>,
    /// `azp` or `client_id`, when present.
    pub client_id: Option<String>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Who is calling, put in the request extensions by [`RequireAuthLayer`] and extracted by
/// handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedCaller {
    pub subject: String,
    pub scopes: BTreeSet<String>,
    /// False only in the local `*_JWT_VALIDATION=false` bypass, where claims are read unverified.
    pub verified: bool,
}

impl AuthenticatedCaller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// 403 `scope_missing` unless the caller holds `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::scope_missing(scope))
        }
    }
}

impl From<Claims> for AuthenticatedCaller {
    fn from(c: Claims) -> Self {
        Self {
            subject: c.sub,
            scopes: c.scopes,
            verified: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWKS source and cache.

/// Where the JWKS comes from. The HTTP implementation is [`HttpJwksFetcher`]; tests plug in
/// their own.
pub trait JwksFetcher: Send + Sync {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + '_>>;
}

/// GET the JWKS URL with a timeout.
pub struct HttpJwksFetcher {
    client: reqwest::Client,
    url: String,
}

/// The largest JWKS document accepted; Auth0's is a few KB.
const MAX_JWKS_BYTES: usize = 256 * 1024;

impl HttpJwksFetcher {
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ApiError::Setup(format!("JWKS HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.into(),
        })
    }
}

impl JwksFetcher for HttpJwksFetcher {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + '_>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.url)
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("GET {}: {e}", self.url))?;
            if !response.status().is_success() {
                return Err(format!("GET {}: HTTP {}", self.url, response.status()));
            }
            if response
                .content_length()
                .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
            {
                return Err(format!(
                    "GET {}: JWKS larger than {MAX_JWKS_BYTES} bytes",
                    self.url
                ));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("GET {}: {e}", self.url))?;
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!(
                    "GET {}: JWKS larger than {MAX_JWKS_BYTES} bytes",
                    self.url
                ));
            }
            serde_json::from_slice(&body).map_err(|e| format!("GET {}: not JSON: {e}", self.url))
        })
    }
}

fn b64url_decode(value: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
}

/// The RSA signing keys of a JWKS by `kid`. Keys that are not RSA, are marked for another use or
/// algorithm, or do not decode are skipped. A modulus with leading zero bytes (the original test
/// fake has one) is accepted.
pub fn parse_jwks(jwks: &Value) -> HashMap<String, Arc<DecodingKey>> {
    let mut out = HashMap::new();
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return out;
    };
    for key in keys {
        let field = |name: &str| key.get(name).and_then(Value::as_str);
        if field("kty") != Some("RSA") {
            continue;
        }
        if field("use").is_some_and(|u| u != "sig") || field("alg").is_some_and(|a| a != "RS256") {
            continue;
        }
        let (Some(kid), Some(n), Some(e)) = (field("kid"), field("n"), field("e")) else {
            continue;
        };
        let (Some(n), Some(e)) = (b64url_decode(n), b64url_decode(e)) else {
            continue;
        };
        let n = strip_leading_zeros(&n);
        let e = strip_leading_zeros(&e);
        if n.is_empty() || e.is_empty() {
            continue;
        }
        // Later keys with the same kid win, as in the original.
        out.insert(
            kid.to_owned(),
            Arc::new(DecodingKey::from_rsa_raw_components(n, e)),
        );
    }
    out
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A monotonic clock, injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_attempt_failed: bool,
}

/// A token that passed full validation, remembered so that a client sending the same token on
/// every request (DinoPark, the HRIS job) pays for the RSA check once. A hit is only honoured
/// while the token has not expired and its `kid` is still in a fresh JWKS; anything else falls
/// back to full validation, so the cache can only skip work, never accept what would fail.
struct VerifiedToken {
    claims: Claims,
    kid: String,
}

/// How many distinct verified tokens are remembered (a few MB at most).
const VERIFIED_TOKENS: usize = 10_000;

/// Validates bearer tokens for one API (one issuer and audience).
pub struct Validator {
    settings: AuthSettings,
    fetcher: Arc<dyn JwksFetcher>,
    clock: Clock,
    cache: RwLock<Cache>,
    verified: quick_cache::sync::Cache<String, Arc<VerifiedToken>>,
    refresh: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .field("jwks_url", &self.settings.jwks_url)
            .finish()
    }
}

enum Lookup {
    Found(Arc<DecodingKey>),
    Unknown,
    Stale,
}

impl Validator {
    /// A validator fetching the JWKS from `settings.jwks_url` over HTTP.
    pub fn new(settings: AuthSettings) -> Result<Self, ApiError> {
        let fetcher = HttpJwksFetcher::new(settings.jwks_url.clone(), settings.jwks_fetch_timeout)?;
        Ok(Self::with_fetcher(settings, Arc::new(fetcher)))
    }

    pub fn with_fetcher(settings: AuthSettings, fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self::with_fetcher_and_clock(settings, fetcher, Arc::new(Instant::now))
    }

    pub fn with_fetcher_and_clock(
        settings: AuthSettings,
        fetcher: Arc<dyn JwksFetcher>,
        clock: Clock,
    ) -> Self {
        Self {
            settings,
            fetcher,
            clock,
            cache: RwLock::new(Cache::default()),
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
            refresh: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// How many times the JWKS has been fetched (successfully or not).
    pub fn jwks_fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lookup(&self, kid: &str, now: Instant) -> Lookup {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let fresh = cache
            .fetched_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.settings.jwks_ttl);
        match (fresh, cache.keys.get(kid)) {
            (true, Some(k)) => Lookup::Found(k.clone()),
            (true, None) => Lookup::Unknown,
            (false, _) => Lookup::Stale,
        }
    }

    fn may_fetch(&self, now: Instant, reason: &Lookup) -> bool {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let since_last = cache.last_attempt.map(|t| now.saturating_duration_since(t));
        let interval_passed =
            since_last.is_none_or(|d| d >= self.settings.jwks_min_refresh_interval);
        match reason {
            // An expired cache is refetched at once, unless the last attempt just failed.
            Lookup::Stale => !cache.last_attempt_failed || interval_passed,
            // An unknown kid only refetches once per interval.
            _ => interval_passed,
        }
    }

    async fn fetch_into_cache(&self, now: Instant) {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.fetcher.fetch().await;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.last_attempt = Some(now);
        match result {
            Ok(jwks) => {
                let keys = parse_jwks(&jwks);
                if keys.is_empty() {
                    tracing::warn!(url = %self.settings.jwks_url, "JWKS holds no usable RS256 key");
                }
                cache.keys = keys;
                cache.fetched_at = Some(now);
                cache.last_attempt_failed = false;
            }
            Err(e) => {
                // Keep whatever we had: a stale key set beats refusing every request.
                tracing::warn!(error = %e, "JWKS fetch failed");
                cache.last_attempt_failed = true;
            }
        }
    }

    async fn key_for(&self, kid: &str) -> Result<Arc<DecodingKey>, ApiError> {
        let now = (self.clock)();
        if let Lookup::Found(k) = self.lookup(kid, now) {
            return Ok(k);
        }
        {
            // One fetch at a time; whoever waited re-checks what the winner fetched.
            let _guard = self.refresh.lock().await;
            let now = (self.clock)();
            let second = self.lookup(kid, now);
            match second {
                Lookup::Found(k) => return Ok(k),
                // The rate limit also covers "someone else fetched while we waited".
                ref reason => {
                    if self.may_fetch(now, reason) {
                        self.fetch_into_cache(now).await;
                    }
                }
            }
        }
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cache.keys.get(kid) {
            return Ok(k.clone());
        }
        if cache.fetched_at.is_none() {
            return Err(ApiError::unavailable(
                "jwks_unavailable",
                format!(
                    "no signing keys could be fetched from {}",
                    self.settings.jwks_url
                ),
            ));
        }
        Err(ApiError::unauthorized("invalid_header", DESC_NO_KEY))
    }

    /// Validate a raw token (without the `Bearer ` prefix).
    pub async fn validate(&self, token: &str) -> Result<Claims, ApiError> {
        if let Some(hit) = self.verified.get(token) {
            let unexpired = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .is_ok_and(|now| now.as_secs() < hit.claims.exp);
            if unexpired && matches!(self.lookup(&hit.kid, (self.clock)()), Lookup::Found(_)) {
                return Ok(hit.claims.clone());
            }
            self.verified.remove(token);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("invalid_header", DESC_UNPARSABLE))?;
        if header.alg != Algorithm::RS256 {
            return Err(ApiError::unauthorized(
                "invalid_header",
                format!(
                    "Token algorithm {:?} is not accepted; RS256 is required",
                    header.alg
                ),
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| ApiError::unauthorized("invalid_header", "Token header has no kid"))?;
        let key = self.key_for(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(map_jwt_error)?;
        let claims = claims_from_map(&data.claims)?;
        self.verified.insert(
            token.to_owned(),
            Arc::new(VerifiedToken {
                claims: claims.clone(),
                kid,
            }),
        );
        Ok(claims)
    }

    /// Read `Authorization: Bearer <token>` and validate it. In the local bypass
    /// (`jwt_validation == false`) the claims are read without verification.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthenticatedCaller, ApiError> {
        let token = bearer_token(headers)?;
        if !self.settings.jwt_validation {
            return unverified_caller(token);
        }
        self.validate(token).await.map(AuthenticatedCaller::from)
    }
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> ApiError {
    match e.kind() {
        ErrorKind::ExpiredSignature => ApiError::unauthorized("token_expired", DESC_EXPIRED),
        ErrorKind::InvalidAudience
        | ErrorKind::InvalidIssuer
        | ErrorKind::InvalidClaimFormat(_) => {
            ApiError::unauthorized("invalid_claims", DESC_BAD_CLAIMS)
        }
        ErrorKind::MissingRequiredClaim(claim) => ApiError::unauthorized(
            "invalid_claims",
            format!("Token is missing the required {claim} claim, or it has the wrong type"),
        ),
        ErrorKind::ImmatureSignature => {
            ApiError::unauthorized("invalid_claims", "Token is not valid yet (nbf)")
        }
        ErrorKind::InvalidAlgorithm => ApiError::unauthorized(
            "invalid_header",
            "Token algorithm is not accepted; RS256 is required",
        ),
        _ => ApiError::unauthorized("invalid_header", DESC_UNPARSABLE),
    }
}

fn string_list(value: &Value, claim: &str) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::unauthorized(
            "invalid_claims",
            format!("The {claim} claim must be a space-separated string or a list of strings"),
        )
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

fn claims_from_map(map: &Map<String, Value>) -> Result<Claims, ApiError> {
    let mut scopes = BTreeSet::new();
    for claim in ["scope", "scp", "permissions"] {
        if let Some(v) = map.get(claim) {
            scopes.extend(string_list(v, claim)?);
        }
    }
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    let aud = match map.get("aud") {
        Some(v) => string_list(v, "aud")?,
        None => Vec::new(),
    };
    Ok(Claims {
        sub: text("sub").unwrap_or_default(),
        iss: text("iss").unwrap_or_default(),
        aud,
        exp: map.get("exp").and_then(Value::as_u64).unwrap_or(0),
        scopes,
        client_id: text("azp").or_else(|| text("client_id")),
    })
}

fn unverified_caller(token: &str) -> Result<AuthenticatedCaller, ApiError> {
    let unparsable = || ApiError::unauthorized("invalid_header", DESC_UNPARSABLE);
    let mut parts = token.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => return Err(unparsable()),
    };
    let bytes = b64url_decode(payload).ok_or_else(unparsable)?;
    let map: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| unparsable())?;
    let claims = claims_from_map(&map)?;
    Ok(AuthenticatedCaller {
        subject: claims.sub,
        scopes: claims.scopes,
        verified: false,
    })
}

/// The token of an `Authorization: Bearer <token>` header, with the original error table.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "authorization_header_missing",
            DESC_HEADER_MISSING,
        ));
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_header", DESC_NOT_BEARER))?;
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        // The original crashed (500) on a whitespace-only header; it is just as missing.
        [] => Err(ApiError::unauthorized(
            "authorization_header_missing",
            DESC_HEADER_MISSING,
        )),
        [scheme, ..] if !scheme.eq_ignore_ascii_case("bearer") => {
            Err(ApiError::unauthorized("invalid_header", DESC_NOT_BEARER))
        }
        [_] => Err(ApiError::unauthorized(
            "invalid_header",
            DESC_TOKEN_NOT_FOUND,
        )),
        [_, token] => Ok(token),
        _ => Err(ApiError::unauthorized(
            "invalid_header",
            DESC_NOT_BEARER_TOKEN,
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Axum integration.

/// What a route needs from its caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthRequirement {
    /// Every one of these scopes is required (403 `scope_missing` otherwise).
    pub scopes: Vec<String>,
    /// A request without an `Authorization` header passes with no caller attached. A header that
    /// is present but wrong is still a 401: a bad token is never silently downgraded.
    pub allow_anonymous: bool,
}

impl AuthRequirement {
    /// A valid token, no particular scope.
    pub fn authenticated() -> Self {
        Self::default()
    }

    /// No token needed; a token that is sent must be valid.
    pub fn anonymous_allowed() -> Self {
        Self {
            scopes: Vec::new(),
            allow_anonymous: true,
        }
    }

    /// The Change API's requirement: the `write` scope when `required` (B3, the
    /// `CIS_REQUIRE_WRITE_SCOPE` setting), otherwise any valid token.
    pub fn write(required: bool) -> Self {
        if required {
            Self::authenticated().with_scope("write")
        } else {
            Self::authenticated()
        }
    }

    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Check a request's headers; `Ok(None)` is an allowed anonymous request.
    pub async fn check(
        &self,
        validator: &Validator,
        headers: &HeaderMap,
    ) -> Result<Option<AuthenticatedCaller>, ApiError> {
        if self.allow_anonymous && !headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        let caller = validator.authenticate(headers).await?;
        for scope in &self.scopes {
            caller.require_scope(scope)?;
        }
        Ok(Some(caller))
    }
}

/// A tower layer enforcing an [`AuthRequirement`]; use it with `Router::route_layer` so that
/// unknown routes stay 404s. On success the [`AuthenticatedCaller`] is put in the request
/// extensions for the handler.
#[derive(Clone)]
pub struct RequireAuthLayer {
    validator: Arc<Validator>,
    requirement: Arc<AuthRequirement>,
}

impl RequireAuthLayer {
    pub fn new(validator: Arc<Validator>, requirement: AuthRequirement) -> Self {
        Self {
            validator,
            requirement: Arc::new(requirement),
        }
    }
}

impl<S> tower::Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth {
            inner,
            validator: self.validator.clone(),
            requirement: self.requirement.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequireAuth<S> {
    inner: S,
    validator: Arc<Validator>,
    requirement: Arc<AuthRequirement>,
}

impl<S> tower::Service<Request> for RequireAuth<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone that was polled ready is the one that must serve this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let requirement = self.requirement.clone();
        Box::pin(async move {
            // CORS preflights carry no credentials; the original answered them without auth.
            if req.method() == axum::http::Method::OPTIONS {
                return inner.call(req).await;
            }
            match requirement.check(&validator, req.headers()).await {
                Ok(caller) => {
                    if let Some(caller) = caller {
                        req.extensions_mut().insert(caller);
                    }
                    inner.call(req).await
                }
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthenticatedCaller>()
            .cloned()
            .ok_or_else(|| {
                ApiError::internal(
                    "AuthenticatedCaller extracted on a route without RequireAuthLayer",
                )
            })
    }
}

/// `Option<AuthenticatedCaller>`: `None` for an anonymous request on an
/// [`AuthRequirement::anonymous_allowed`] route.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthenticatedCaller {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AuthenticatedCaller>().cloned())
    }
}
