//! Where the publisher public keys come from: fixed (tests, file mode) or the well-known
//! document with its TTL cache (DECISIONS B20).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cis_crypto::{CryptoError, PublisherKeys, WellKnownSource};

/// A failed verification may mean a key was rotated; refetching the document then is allowed at
/// most this often, so a stream of forged signatures cannot hammer the well-known endpoint.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The publisher keys the pipeline verifies against.
pub enum KeySource {
    /// Keys loaded once (tests, `CIS_WELL_KNOWN_MODE=file`).
    Fixed(Arc<PublisherKeys>),
    /// The `mozilla-iam` document, fetched and cached with a TTL.
    WellKnown {
        source: Arc<WellKnownSource>,
        last_forced_refresh: std::sync::Mutex<Option<Instant>>,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(keys) => f
                .debug_tuple("Fixed")
                .field(&keys.publishers().collect::<Vec<_>>())
                .finish(),
            Self::WellKnown { source, .. } => f.debug_tuple("WellKnown").field(source).finish(),
        }
    }
}

impl KeySource {
    pub fn fixed(keys: PublisherKeys) -> Self {
        Self::Fixed(Arc::new(keys))
    }

    pub fn well_known(source: Arc<WellKnownSource>) -> Self {
        Self::WellKnown {
            source,
            last_forced_refresh: std::sync::Mutex::new(None),
        }
    }

    /// The current keys (a cheap `Arc` clone once cached).
    pub async fn current(&self) -> Result<Arc<PublisherKeys>, CryptoError> {
        match self {
            Self::Fixed(keys) => Ok(Arc::clone(keys)),
            Self::WellKnown { source, .. } => source.publisher_keys().await,
        }
    }

    /// Fresh keys after a verification failure, if this source can refresh and has not done so
    /// within [`REFRESH_INTERVAL`]; `None` otherwise.
    pub async fn refreshed(&self) -> Option<Arc<PublisherKeys>> {
        let Self::WellKnown {
            source,
            last_forced_refresh,
        } = self
        else {
            return None;
        };
        {
            let mut last = last_forced_refresh.lock().ok()?;
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < REFRESH_INTERVAL) {
                return None;
            }
            *last = Some(now);
        }
        match source.refresh().await {
            Ok(keys) => Some(keys),
            Err(error) => {
                tracing::warn!(%error, "refreshing publisher keys after a verification failure failed");
                None
            }
        }
    }
}
