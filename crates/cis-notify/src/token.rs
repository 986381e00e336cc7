//! The notifier's bearer token: OAuth2 client credentials against Auth0 (or the local dev
//! issuer), cached in memory and refreshed before it expires (DECISIONS B17).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cis_config::Secret;
use serde::Deserialize;

use crate::NotifyError;

/// Where "now" comes from, so tests can move the token's age without sleeping.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// What the client-credentials exchange needs (notifier spec §1.5).
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// `https://<tenant>/oauth/token`.
    pub token_url: String,
    /// The webhook audience, e.g. `hook.sso.mozilla.com`.
    pub audience: String,
    pub client_id: String,
    pub client_secret: Secret<String>,
}

/// An access token. `Debug` is redacted so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

struct Cached {
    token: BearerToken,
    refresh_at: Instant,
}

/// Auth0 answers `{"access_token","expires_in","token_type"}`; errors are
/// `{"error","error_description"}`.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<f64>,
    error: Option<String>,
}

/// Lifetime assumed when the token endpoint does not say (the original used 60 s too).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Default refresh margin: a token is replaced this long before it expires, so one handed out
/// just before a request is still valid when the RP checks it, allowing for clock skew.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Hands out the current token, exchanging a new one when none is cached or the cached one is
/// within the refresh margin of its expiry. Concurrent callers share one exchange: the cache
/// lock is held across it, so a burst of deliveries costs one request to the token endpoint.
pub struct TokenProvider {
    http: reqwest::Client,
    credentials: ClientCredentials,
    timeout: Duration,
    refresh_margin: Duration,
    clock: Clock,
    cache: tokio::sync::Mutex<Option<Cached>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("token_url", &self.credentials.token_url)
            .field("audience", &self.credentials.audience)
            .field("client_id", &self.credentials.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// `timeout` bounds each exchange.
    pub fn new(credentials: ClientCredentials, timeout: Duration) -> Result<Self, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Config(format!("token HTTP client: {e}")))?;
        reqwest::Url::parse(&credentials.token_url)
            .map_err(|e| NotifyError::Config(format!("token URL: {e}")))?;
        Ok(Self {
            http,
            credentials,
            timeout,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(Instant::now),
            cache: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How long before expiry a token is replaced. For short-lived tokens at most half their
    /// lifetime is taken off, so a 60 s token is still reused for 30 s.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How many exchanges were made (successful or not), for tests and metrics.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The cached token, or a fresh one.
    pub async fn bearer(&self) -> Result<BearerToken, NotifyError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && (self.clock)() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        *cache = None;
        let (token, lifetime) = self.exchange().await?;
        let margin = self.refresh_margin.min(lifetime / 2);
        // Measured from after the exchange: its duration is on the safe side of the margin.
        let refresh_at = (self.clock)() + lifetime.saturating_sub(margin);
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Drops `token` from the cache if it is still the cached one: an RP answered 401, so the
    /// next attempt should not present it again. A token already replaced is left alone.
    pub async fn invalidate(&self, token: &BearerToken) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == *token) {
            *cache = None;
        }
    }

    async fn exchange(&self) -> Result<(BearerToken, Duration), NotifyError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret.expose(),
            "audience": self.credentials.audience,
            "grant_type": "client_credentials",
        });
        let response = self
            .http
            .post(&self.credentials.token_url)
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError::Token(describe_reqwest_error(&e)))?;
        let status = response.status();
        let parsed: Option<TokenResponse> = response.json().await.ok();
        if !status.is_success() {
            // Auth0's `error` code only; the description may echo request fields.
            let code = parsed
                .and_then(|p| p.error)
                .map(|e| e.chars().take(64).collect::<String>())
                .unwrap_or_default();
            return Err(NotifyError::Token(format!(
                "HTTP {} {code}",
                status.as_u16()
            )));
        }
        let parsed = parsed.ok_or_else(|| NotifyError::Token("response is not JSON".into()))?;
        let token = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| NotifyError::Token("response has no access_token".into()))?;
        let lifetime = parsed
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_LIFETIME, Duration::from_secs_f64);
        Ok((BearerToken(token.into()), lifetime))
    }
}

/// A reqwest error without its source chain's noise; never contains headers (so no token).
pub(crate) fn describe_reqwest_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "bad response body".to_owned()
    } else {
        "request failed".to_owned()
    }
}
