//! Where publisher public keys come from: the `mozilla-iam` well-known document, read from a file
//! or fetched over HTTP(S), kept in memory for a TTL (DECISIONS B2, B20; profile-and-crypto §8.1).
//!
//! Unlike the Python loader (no timeout, a file cache that never expires), fetches time out, the
//! cache expires, and a failed refresh keeps serving the last good keys, retried shortly after,
//! so a short outage of the well-known endpoint does not stop verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::CryptoError;
use crate::verifier::PublisherKeys;

/// How long a fetched document is used before it is fetched again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// Upper bound for one fetch (connect + response).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed refresh, stale keys are served for at most this long before the next attempt.
const STALE_RETRY: Duration = Duration::from_secs(30);
/// A well-known document is ~12 KiB; anything this large is not one.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A file path or an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WellKnownLocation {
    File(PathBuf),
    Url(String),
}

impl WellKnownLocation {
    /// `http://…` and `https://…` are URLs; anything else is a file path.
    pub fn parse(location: &str) -> Self {
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(location.to_owned())
        } else {
            Self::File(PathBuf::from(location))
        }
    }
}

impl std::fmt::Display for WellKnownLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

struct Cached {
    document: Arc<Value>,
    keys: Arc<PublisherKeys>,
    refresh_at: Instant,
}

/// The well-known document and the publisher keys parsed from it, cached with a TTL.
pub struct WellKnownSource {
    location: WellKnownLocation,
    ttl: Duration,
    client: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for WellKnownSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WellKnownSource")
            .field("location", &self.location)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl WellKnownSource {
    /// A source at `location` (URL or file path) with [`DEFAULT_TTL`] and
    /// [`DEFAULT_FETCH_TIMEOUT`].
    pub fn new(location: &str) -> Result<Self, CryptoError> {
        Self::with_settings(
            WellKnownLocation::parse(location),
            DEFAULT_TTL,
            DEFAULT_FETCH_TIMEOUT,
        )
    }

    /// A source with explicit TTL and fetch timeout.
    pub fn with_settings(
        location: WellKnownLocation,
        ttl: Duration,
        fetch_timeout: Duration,
    ) -> Result<Self, CryptoError> {
        let client = reqwest::Client::builder()
            .timeout(fetch_timeout)
            .connect_timeout(fetch_timeout)
            .build()
            .map_err(|e| CryptoError::WellKnownFetch {
                url: location.to_string(),
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            location,
            ttl,
            client,
            cache: Mutex::new(None),
        })
    }

    /// A source preloaded from a file, read synchronously now (start-up code, CLI). It is
    /// re-read from the file after the TTL.
    pub fn from_file_sync(path: &Path) -> Result<Self, CryptoError> {
        let (document, keys) = load_file(path)?;
        let source = Self::with_settings(
            WellKnownLocation::File(path.to_owned()),
            DEFAULT_TTL,
            DEFAULT_FETCH_TIMEOUT,
        )?;
        let refresh_at = Instant::now() + source.ttl;
        Ok(Self {
            cache: Mutex::new(Some(Cached {
                document: Arc::new(document),
                keys: Arc::new(keys),
                refresh_at,
            })),
            ..source
        })
    }

    /// Where the document comes from.
    pub fn location(&self) -> &WellKnownLocation {
        &self.location
    }

    /// The current document (fetched if absent or older than the TTL).
    pub async fn document(&self) -> Result<Arc<Value>, CryptoError> {
        self.current().await.map(|(document, _)| document)
    }

    /// The current publisher keys (fetched if absent or older than the TTL).
    pub async fn publisher_keys(&self) -> Result<Arc<PublisherKeys>, CryptoError> {
        self.current().await.map(|(_, keys)| keys)
    }

    /// Fetches now, ignoring the TTL (e.g. after a verification failure for a publisher whose
    /// key may just have rotated). On failure the cache is left as it was.
    pub async fn refresh(&self) -> Result<Arc<PublisherKeys>, CryptoError> {
        let mut cache = self.cache.lock().await;
        let (document, keys) = self.load().await?;
        let keys = Arc::new(keys);
        *cache = Some(Cached {
            document: Arc::new(document),
            keys: Arc::clone(&keys),
            refresh_at: Instant::now() + self.ttl,
        });
        Ok(keys)
    }

    async fn current(&self) -> Result<(Arc<Value>, Arc<PublisherKeys>), CryptoError> {
        // Held across the fetch so that concurrent callers share one fetch.
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(entry) = cache.as_ref()
            && now < entry.refresh_at
        {
            return Ok((Arc::clone(&entry.document), Arc::clone(&entry.keys)));
        }
        match self.load().await {
            Ok((document, keys)) => {
                let entry = Cached {
                    document: Arc::new(document),
                    keys: Arc::new(keys),
                    refresh_at: Instant::now() + self.ttl,
                };
                let out = (Arc::clone(&entry.document), Arc::clone(&entry.keys));
                *cache = Some(entry);
                Ok(out)
            }
            Err(error) => match cache.as_mut() {
                Some(stale) => {
                    tracing::warn!(
                        location = %self.location,
                        %error,
                        "well-known refresh failed; keeping the previous publisher keys"
                    );
                    stale.refresh_at = now + self.ttl.min(STALE_RETRY);
                    Ok((Arc::clone(&stale.document), Arc::clone(&stale.keys)))
                }
                None => Err(error),
            },
        }
    }

    async fn load(&self) -> Result<(Value, PublisherKeys), CryptoError> {
        let document = match &self.location {
            WellKnownLocation::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| CryptoError::io(path, e))?;
                parse_document(&bytes)?
            }
            WellKnownLocation::Url(url) => self.fetch(url).await?,
        };
        let keys = PublisherKeys::from_well_known(&document)?;
        tracing::debug!(
            location = %self.location,
            publishers = keys.publishers().count(),
            "well-known document loaded"
        );
        Ok((document, keys))
    }

    async fn fetch(&self, url: &str) -> Result<Value, CryptoError> {
        let failed = |reason: String| CryptoError::WellKnownFetch {
            url: url.to_owned(),
            reason,
        };
        let response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| failed(describe_reqwest_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP status {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(describe_reqwest_error(&e)))?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(failed(format!(
                "document larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        parse_document(&bytes)
    }
}

fn describe_reqwest_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("connection failed: {error}")
    } else {
        error.to_string()
    }
}

fn parse_document(bytes: &[u8]) -> Result<Value, CryptoError> {
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| CryptoError::WellKnownInvalid(format!("not JSON: {e}")))?;
    if !document.is_object() {
        return Err(CryptoError::WellKnownInvalid("not a JSON object".into()));
    }
    Ok(document)
}

/// Reads a well-known document file and its publisher keys, synchronously.
pub fn load_file(path: &Path) -> Result<(Value, PublisherKeys), CryptoError> {
    let bytes = std::fs::read(path).map_err(|e| CryptoError::io(path, e))?;
    let document = parse_document(&bytes)?;
    let keys = PublisherKeys::from_well_known(&document)?;
    Ok((document, keys))
}

/// The publisher keys of a well-known document file, synchronously.
pub fn publisher_keys_from_file(path: &Path) -> Result<PublisherKeys, CryptoError> {
    load_file(path).map(|(_, keys)| keys)
}
