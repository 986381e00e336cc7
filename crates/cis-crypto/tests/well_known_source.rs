#![allow(clippy::unwrap_used)]
//! The well-known source: file and HTTP, TTL cache, fetch timeout, stale keys on failure. The HTTP
//! side runs against a tiny raw-HTTP server on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cis_crypto::{CryptoError, Signer, WellKnownLocation, WellKnownSource};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
enum Reply {
    Json(String),
    Status(u16),
    Delay(Duration),
}

struct TestServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

impl TestServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let (hits_in, reply_in) = (Arc::clone(&hits), Arc::clone(&reply));
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let hits = Arc::clone(&hits_in);
                let reply = reply_in.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match reply {
                        Reply::Json(body) => (200, body),
                        Reply::Status(code) => (code, "{}".to_owned()),
                        Reply::Delay(delay) => {
                            tokio::time::sleep(delay).await;
                            (200, "{}".to_owned())
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { addr, hits, reply }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/mozilla-iam", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

fn fake_well_known() -> String {
    common::read("keys/fake-well-known.json")
}

/// fake-well-known with key_1 instead of key_0 for every publisher.
fn rotated_well_known() -> String {
    let mut document: Value = serde_json::from_str(&fake_well_known()).unwrap();
    let key1 = cis_crypto::public_jwk_from_pem(
        &common::read("keys/fake-publisher-key_1.pub.pem"),
        "FakeId1",
    )
    .unwrap();
    let jwks: Vec<(&str, Vec<Value>)> = cis_crypto::PUBLISHERS
        .iter()
        .map(|p| (*p, vec![key1.clone()]))
        .collect();
    document = cis_crypto::mozilla_iam_document(&document, &jwks).unwrap();
    document.to_string()
}

fn token_by(key_file: &str) -> String {
    Signer::new()
        .with_key_file("hris", &common::reference(key_file))
        .unwrap()
        .sign_bytes("hris", b"{\"value\":\"x\"}")
        .unwrap()
}

fn source(url: &str, ttl: Duration, timeout: Duration) -> WellKnownSource {
    WellKnownSource::with_settings(WellKnownLocation::parse(url), ttl, timeout).unwrap()
}

#[tokio::test]
async fn url_is_fetched_once_within_the_ttl() {
    let server = TestServer::start(Reply::Json(fake_well_known())).await;
    let source = source(
        &server.url(),
        Duration::from_secs(600),
        Duration::from_secs(5),
    );
    assert!(matches!(source.location(), WellKnownLocation::Url(_)));
    for _ in 0..3 {
        let keys = source.publisher_keys().await.unwrap();
        keys.verify_token("hris", &token_by("keys/fake-publisher-key_0.priv.pem"))
            .unwrap();
    }
    let document = source.document().await.unwrap();
    assert_eq!(
        document["api"]["publishers_jwks"]["hris"]["keys"][0]["kid"],
        "FakeId"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn url_is_fetched_again_after_the_ttl() {
    let server = TestServer::start(Reply::Json(fake_well_known())).await;
    let source = source(
        &server.url(),
        Duration::from_millis(200),
        Duration::from_secs(5),
    );
    let key0_token = token_by("keys/fake-publisher-key_0.priv.pem");
    let key1_token = token_by("keys/fake-publisher-key_1.priv.pem");
    let keys = source.publisher_keys().await.unwrap();
    keys.verify_token("hris", &key0_token).unwrap();
    assert!(keys.verify_token("hris", &key1_token).is_err());

    server.set(Reply::Json(rotated_well_known()));
    // Within the TTL: still the cached keys.
    let keys = source.publisher_keys().await.unwrap();
    keys.verify_token("hris", &key0_token).unwrap();
    assert_eq!(server.hits(), 1);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = source.publisher_keys().await.unwrap();
    keys.verify_token("hris", &key1_token).unwrap();
    assert!(keys.verify_token("hris", &key0_token).is_err());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = TestServer::start(Reply::Delay(Duration::from_secs(30))).await;
    let source = source(
        &server.url(),
        Duration::from_secs(600),
        Duration::from_millis(300),
    );
    let started = std::time::Instant::now();
    let error = source.publisher_keys().await.unwrap_err();
    match error {
        CryptoError::WellKnownFetch { reason, .. } => assert_eq!(reason, "timed out"),
        other => panic!("{other:?}"),
    }
    // Functional check that the fetch was cut short, not a performance figure.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn http_errors_and_bad_documents() {
    let server = TestServer::start(Reply::Status(500)).await;
    let source = source(
        &server.url(),
        Duration::from_secs(600),
        Duration::from_secs(5),
    );
    let error = source.publisher_keys().await.unwrap_err();
    assert!(
        matches!(&error, CryptoError::WellKnownFetch { reason, .. } if reason.contains("500")),
        "{error:?}"
    );

    server.set(Reply::Json("<html>not json</html>".to_owned()));
    let error = source.publisher_keys().await.unwrap_err();
    assert!(
        matches!(error, CryptoError::WellKnownInvalid(_)),
        "{error:?}"
    );

    server.set(Reply::Json("{\"api\": {\"publishers_jwks\": {\"hris\": {\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}}}}".to_owned()));
    let error = source.publisher_keys().await.unwrap_err();
    assert!(
        matches!(&error, CryptoError::WellKnownInvalid(m) if m.contains("hris")),
        "{error:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_fetch_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let source = source(
        &format!("http://{addr}/mozilla-iam"),
        Duration::from_secs(600),
        Duration::from_secs(2),
    );
    assert!(matches!(
        source.publisher_keys().await,
        Err(CryptoError::WellKnownFetch { .. })
    ));
}

#[tokio::test]
async fn failed_refresh_keeps_the_previous_keys() {
    let server = TestServer::start(Reply::Json(fake_well_known())).await;
    let source = source(
        &server.url(),
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    source.publisher_keys().await.unwrap();
    server.set(Reply::Status(503));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let keys = source.publisher_keys().await.unwrap();
    keys.verify_token("hris", &token_by("keys/fake-publisher-key_0.priv.pem"))
        .unwrap();
    assert_eq!(server.hits(), 2);
    // A forced refresh reports the failure.
    assert!(matches!(
        source.refresh().await,
        Err(CryptoError::WellKnownFetch { .. })
    ));
}

#[tokio::test]
async fn file_sources() {
    let path = common::reference("well-known/dev.mozilla-iam.json");
    let sync = WellKnownSource::from_file_sync(&path).unwrap();
    let keys = sync.publisher_keys().await.unwrap();
    assert_eq!(keys.publishers().count(), 5);

    let lazy = WellKnownSource::new(path.to_str().unwrap()).unwrap();
    assert_eq!(lazy.location(), &WellKnownLocation::File(path.clone()));
    assert_eq!(
        lazy.document().await.unwrap()["api"]["publishers_jwks"],
        sync.document().await.unwrap()["api"]["publishers_jwks"]
    );

    let missing = WellKnownSource::new("/nonexistent/mozilla-iam").unwrap();
    assert!(matches!(
        missing.publisher_keys().await,
        Err(CryptoError::Io { .. })
    ));
    assert!(matches!(
        cis_crypto::publisher_keys_from_file(&common::reference("keys/good-signature")),
        Err(CryptoError::WellKnownInvalid(_))
    ));
}

#[test]
fn location_parsing() {
    assert_eq!(
        WellKnownLocation::parse("HTTPS://auth.mozilla.com/.well-known/mozilla-iam"),
        WellKnownLocation::Url("HTTPS://auth.mozilla.com/.well-known/mozilla-iam".into())
    );
    assert_eq!(
        WellKnownLocation::parse("well-known/mozilla-iam.json"),
        WellKnownLocation::File("well-known/mozilla-iam.json".into())
    );
}
