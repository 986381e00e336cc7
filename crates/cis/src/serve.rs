//! `cis serve`: the local all-in-one (DECISIONS C1). One process, three ports:
//!
//! * the Change API (the same router the `change` Lambda serves);
//! * the Person API (the same router as the `person` Lambda; its paths overlap the Change API's,
//!   hence its own port, as in production);
//! * the dev token issuer standing in for Auth0 (`/.well-known/jwks.json`,
//!   `/.well-known/openid-configuration`, `POST /oauth/token`) and the `mozilla-iam` well-known
//!   document with the data directory's publisher keys (`/.well-known/mozilla-iam`).
//!
//! Two background loops run the asynchronous parts of the deployment on the same SQLite vault:
//!
//! * with `CIS_STREAM_BYPASS=false`, the Change API queues writes (202 and a queue id per
//!   profile) and the local processor integrates them, in order per user (DECISIONS C2);
//! * with `CIS_RP_URLS` set, the webhook notifier posts `{"operation","id","time"}` for every
//!   change-feed event to each RP, with a bearer token from this serve's own issuer (client
//!   `cis-webhook-notifier` of clients.json, audience `CIS_API_IDENTIFIER`); it resumes from its
//!   checkpoint after a restart and keeps failed deliveries as dead letters (`cis notify`).
//!   Without `CIS_RP_URLS` nothing is notified: the deployed default RP is never called.
//!
//! SIGINT/SIGTERM stop the listeners, let the processor finish its claim and the notifier the
//! event in flight (its checkpoint saved), then exit.
//!
//! Both APIs validate tokens exactly as deployed (RS256, `exp`/`aud`/`iss`, JWKS fetched over
//! HTTP from the issuer, `write` scope on the Change API); signatures and publisher rules are
//! verified unless the configuration turns them off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;
use cis_config::{ChangeSettings, NotifierSettings, PersonSettings, Source, keys};
use cis_core::ingest::{Processor, run_local_processor};
use cis_core::{ChangeService, KeySource, UuidSalt};
use cis_crypto::{Signer, SigningKey};
use cis_http::change_api::{self, ChangeApiSettings, ChangeApiState};
use cis_http::person_api::{self, PersonApiState};
use cis_http::{DevIssuer, Validator};
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Outcome;
use crate::datadir::{
    ALL_SCOPES, DataDir, LOCAL_AUDIENCE, NOTIFIER_CLIENT_ID, NotifierInfo, ServeUrls,
};

const DEV_TEMPLATE: &str = include_str!("../../../well-known/dev.mozilla-iam.tpl.json");
const SCHEMA: &str = include_str!("../../../well-known/profile.schema.json");
const RULES: &str = include_str!("../../../well-known/mozilla-iam-publisher-rules.json");

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where the vault, keys, salt and clients live (created at first start).
    #[arg(long, default_value = ".cis-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Change API port (0 = any free port).
    #[arg(long, default_value_t = 8100)]
    pub change_port: u16,
    /// Person API port (0 = any free port).
    #[arg(long, default_value_t = 8101)]
    pub person_port: u16,
    /// Token issuer and well-known document port (0 = any free port).
    #[arg(long, default_value_t = 8102)]
    pub issuer_port: u16,
    /// Enable DELETE /v2/user (same as CIS_ALLOW_DELETE=true).
    #[arg(long)]
    pub allow_delete: bool,
    /// A TOML file of settings (`CIS_VERIFY_SIGNATURES = false`, `[cis] allow_delete = true`, …);
    /// the environment wins over it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<Outcome> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(Outcome::Ok)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn bind(host: &str, port: u16, what: &str) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port} for the {what}"))?;
    let addr: SocketAddr = listener.local_addr()?;
    Ok((listener, format!("http://{addr}")))
}

/// The settings source: serve-owned keys forced, then the environment, then the TOML file,
/// then local defaults (`CIS_ENVIRONMENT=local`).
fn source(forced: HashMap<&'static str, String>, config: Option<&PathBuf>) -> Result<Source> {
    let load = |source: Source| match config {
        Some(path) => source
            .with_toml_file(path)
            .with_context(|| format!("cannot load {}", path.display())),
        None => Ok(source),
    };
    // Defaults must sit under the file, and a Source has one layer above it: give the primary
    // layer only the defaults the file does not set.
    let file_only = load(Source::from_fn(|_| None))?;
    let defaults: HashMap<&'static str, &'static str> = [
        (keys::CIS_ENVIRONMENT, "local"),
        (keys::PERSON_API_ENVIRONMENT, "local"),
    ]
    .into_iter()
    .filter(|(key, _)| file_only.get(key).is_none())
    .collect();
    load(Source::from_fn(move |key| {
        forced
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok().filter(|v| !v.is_empty()))
            .or_else(|| defaults.get(key).map(|v| (*v).to_owned()))
    }))
}

/// The `mozilla-iam` document of this local deployment: the dev template with the local URLs
/// and the data directory's publisher keys.
fn well_known_document(
    dir: &DataDir,
    change_url: &str,
    person_url: &str,
    issuer_url: &str,
) -> Result<Value> {
    let text = cis_crypto::render_well_known_template(DEV_TEMPLATE, "localhost", "dev.");
    let template: Value = serde_json::from_str(&text).context("the dev template is not JSON")?;
    let mut publishers = Vec::new();
    for (publisher, pem) in dir.publisher_pems()? {
        let jwk = cis_crypto::public_jwk_from_pem(&pem, &cis_crypto::default_kid(&publisher))?;
        publishers.push((publisher, vec![jwk]));
    }
    let refs: Vec<(&str, Vec<Value>)> = publishers
        .iter()
        .map(|(p, k)| (p.as_str(), k.clone()))
        .collect();
    let mut document = cis_crypto::mozilla_iam_document(&template, &refs)?;
    document["oidc_discovery_uri"] =
        json!(format!("{issuer_url}/.well-known/openid-configuration"));
    document["api"]["endpoints"] = json!({ "change": change_url, "person": person_url });
    document["api"]["audience"] = json!(LOCAL_AUDIENCE);
    document["api"]["profile_schema_uri"] =
        json!(format!("{issuer_url}/.well-known/profile.schema"));
    document["api"]["publishers_rules_uri"] = json!(format!(
        "{issuer_url}/.well-known/mozilla-iam-publisher-rules"
    ));
    Ok(document)
}

fn static_json(text: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

fn issuer_router(issuer: Arc<DevIssuer>, document: Value) -> Router {
    let document = Arc::new(document);
    let well_known = Router::new()
        .route(
            "/.well-known/mozilla-iam",
            get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .route(
            "/.well-known/profile.schema",
            get(|| async { static_json(SCHEMA) }),
        )
        .route(
            "/.well-known/mozilla-iam-publisher-rules",
            get(|| async { static_json(RULES) }),
        );
    issuer.router().merge(well_known)
}

async fn shutdown_signal(tx: watch::Sender<bool>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
    let _ = tx.send(true);
}

fn serve_on(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await
    })
}

/// How often the idle processor and notifier look for new work.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The future that completes when `stop` says so.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// `CIS_RP_URLS` from the environment or the config file; `None` when unset or blank (then the
/// notifier does not run: the deployed default RP must never be called from a laptop).
fn configured_rp_urls(source: &Source) -> Option<String> {
    source
        .get(keys::CIS_RP_URLS)
        .filter(|urls| urls.split(',').any(|u| !u.trim().is_empty()))
}

/// The notifier's settings: the configured RPs, audience, timeout and attempts, with the token
/// from this serve's issuer.
fn notifier_settings(
    source: &Source,
    token_url: String,
) -> Result<(NotifierSettings, Vec<String>)> {
    let mut settings = NotifierSettings::from_source(source).context("notifier settings")?;
    settings.token_url = token_url;
    let rp_urls = if configured_rp_urls(source).is_some() {
        settings.rp_urls.clone()
    } else {
        Vec::new()
    };
    settings.rp_urls.clone_from(&rp_urls);
    Ok((settings, rp_urls))
}

async fn serve(args: ServeArgs) -> Result<()> {
    let dir = DataDir::new(&args.data_dir);
    let created = dir.init()?;

    let (change_listener, change_url) = bind(&args.host, args.change_port, "Change API").await?;
    let (person_listener, person_url) = bind(&args.host, args.person_port, "Person API").await?;
    let (issuer_listener, issuer_url) = bind(&args.host, args.issuer_port, "token issuer").await?;

    let (issuer_pem, fresh_issuer) = dir.issuer_pem_or_create(|| {
        let generated = DevIssuer::generate(&issuer_url)
            .map_err(|e| anyhow::anyhow!("cannot generate the issuer key: {e}"))?;
        Ok(generated.private_key_pem().expose().clone())
    })?;
    let mut issuer = DevIssuer::from_pem(&issuer_url, &issuer_pem)
        .map_err(|e| anyhow::anyhow!("issuer.pem: {e}"))?;

    let salt = dir.uuid_salt()?;
    let forced = HashMap::from([
        (keys::CHANGE_SERVICE_AUTH0_DOMAIN, issuer_url.clone()),
        (
            keys::CHANGE_SERVICE_API_IDENTIFIER,
            LOCAL_AUDIENCE.to_owned(),
        ),
        (keys::CHANGE_SERVICE_JWKS_URL, issuer.jwks_url()),
        (keys::PERSON_API_AUTH0_DOMAIN, issuer_url.clone()),
        (keys::PERSON_API_API_IDENTIFIER, LOCAL_AUDIENCE.to_owned()),
        (keys::PERSON_API_JWKS_URL, issuer.jwks_url()),
        (keys::CIS_UUID_SALT, salt.clone()),
    ]);
    let source = source(forced, args.config.as_ref())?;
    let change_config = ChangeSettings::from_source(&source).context("change settings")?;
    let person_config = PersonSettings::from_source(&source).context("person settings")?;
    let (notifier_config, rp_urls) = notifier_settings(&source, issuer.token_url())?;

    // The notifier's client must exist, with its audience, before the issuer is built.
    let notifier_client = dir.ensure_client(NOTIFIER_CLIENT_ID, &notifier_config.audience)?;
    for client in dir.clients()? {
        issuer = issuer.with_client(
            &client.client_id,
            &client.client_secret,
            client.audiences.clone(),
            client.scopes.clone(),
        );
    }
    let issuer = Arc::new(issuer);

    let vault = SqliteVault::open_with(
        dir.vault_path(),
        SqliteOptions {
            // A local store: a process crash never loses a commit; an OS crash may lose the last
            // few, which is fine for throwaway local data and keeps writes fast.
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )
    .with_context(|| format!("cannot open {}", dir.vault_path().display()))?;
    let vault = Arc::new(vault);
    let store: Arc<dyn cis_vault::ProfileStore> = vault.clone();

    let mut cis_signer = Signer::new();
    let cis_pem = std::fs::read_to_string(dir.keys_dir().join("cis.pem"))
        .context("keys/cis.pem is needed: CIS signs last_modified, uuid and primary_username")?;
    cis_signer.insert(
        "cis",
        SigningKey::from_pem(&cis_pem).context("keys/cis.pem")?,
    );
    let settings = cis_core::ChangeSettings {
        verify_signatures: change_config.verify_signatures,
        verify_publishers: change_config.verify_publishers,
        allow_delete: change_config.allow_delete || args.allow_delete,
        ..cis_core::ChangeSettings::default()
    };
    let allow_delete = settings.allow_delete;
    let service = Arc::new(
        ChangeService::new(
            store.clone(),
            KeySource::fixed(dir.publisher_keys()?),
            Arc::new(cis_signer),
            Some(UuidSalt::new(salt)),
            settings,
        )
        .context("change service")?,
    );

    let change_validator = Arc::new(
        Validator::new(change_config.auth.clone())
            .map_err(|e| anyhow::anyhow!("change API auth: {e}"))?,
    );
    let mut change_state = ChangeApiState::new(
        service.clone(),
        change_validator,
        ChangeApiSettings {
            server_timing: true,
            // No API Gateway in front locally (it caps requests at 10 MB, the router's default):
            // a batch of 250 full signed profiles is about 12 MB.
            body_limit: 64 * 1024 * 1024,
            ..ChangeApiSettings::from_config(&change_config)
        },
    );
    let stream_bypass = change_config.stream_bypass;
    if !stream_bypass {
        change_state = change_state.with_queue(vault.clone());
    }
    let change_router = change_api::router(change_state);

    let person_validator = Arc::new(
        Validator::new(person_config.auth.clone())
            .map_err(|e| anyhow::anyhow!("person API auth: {e}"))?,
    );
    let person_service =
        cis_core::person::PersonService::new(store, cis_core::person::PersonOptions::default());
    let mut person_state = PersonApiState::new(Arc::new(person_service), Some(person_validator));
    person_state.public_metadata = person_config.public_metadata;
    person_state.advanced_search = person_config.advanced_search;
    let person_router = person_api::router(person_state);

    let document = well_known_document(&dir, &change_url, &person_url, &issuer_url)?;
    let issuer_routes = issuer_router(issuer.clone(), document);

    let urls = ServeUrls {
        change_url: change_url.clone(),
        person_url: person_url.clone(),
        issuer_url: issuer_url.clone(),
        well_known_url: format!("{issuer_url}/.well-known/mozilla-iam"),
        token_url: issuer.token_url(),
        jwks_url: issuer.jwks_url(),
        audience: LOCAL_AUDIENCE.to_owned(),
        data_dir: dir.root().display().to_string(),
        stream_bypass,
        notifier: Some(NotifierInfo {
            rp_urls: rp_urls.clone(),
            issuer: issuer.issuer().to_owned(),
            jwks_url: issuer.jwks_url(),
            audience: notifier_config.audience.clone(),
            token_url: notifier_config.token_url.clone(),
            client_id: notifier_client.client_id.clone(),
            max_attempts: notifier_config.max_attempts,
            request_timeout_seconds: notifier_config.request_timeout.as_secs(),
        }),
    };
    dir.write_serve_urls(&urls)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let servers = [
        serve_on(change_listener, change_router, stop_rx.clone()),
        serve_on(person_listener, person_router, stop_rx.clone()),
        serve_on(issuer_listener, issuer_routes, stop_rx.clone()),
    ];

    let mut workers = Vec::new();
    if !stream_bypass {
        let processor = Arc::new(Processor::new(service.clone(), vault.clone()));
        tracing::info!(
            "CIS_STREAM_BYPASS=false: writes are queued and integrated by the local processor"
        );
        workers.push((
            "ingest processor",
            tokio::spawn(run_local_processor(
                processor,
                POLL_INTERVAL,
                stopped(stop_rx.clone()),
            )),
        ));
    }
    if rp_urls.is_empty() {
        tracing::info!("CIS_RP_URLS is not set: the webhook notifier does not run");
    } else {
        let notifier = cis_notify::Notifier::from_settings(
            &notifier_config,
            notifier_client.client_id.clone(),
            cis_config::Secret::new(notifier_client.client_secret.clone()),
            Some(vault.clone()),
        )
        .context("webhook notifier")?;
        tracing::info!(
            rps = rp_urls.len(),
            issuer = %issuer.issuer(),
            jwks_url = %issuer.jwks_url(),
            audience = %notifier_config.audience,
            client_id = %notifier_client.client_id,
            "webhook notifier running; RPs verify its tokens against this issuer, JWKS and audience"
        );
        let feed: Arc<dyn cis_vault::ChangeFeed> = vault.clone();
        let stop = stop_rx.clone();
        workers.push((
            "webhook notifier",
            tokio::spawn(async move {
                let settled = cis_notify::run_local_notifier(
                    feed,
                    Arc::new(notifier),
                    POLL_INTERVAL,
                    stopped(stop),
                )
                .await;
                tracing::info!(settled, "webhook notifier stopped; checkpoint saved");
            }),
        ));
    }
    drop(stop_rx);

    let token = issuer
        .mint(
            "cis-local-client@clients",
            LOCAL_AUDIENCE,
            ALL_SCOPES,
            Duration::from_secs(86_400),
        )
        .map_err(|e| anyhow::anyhow!("cannot mint the ready token: {e}"))?;
    print_banner(&urls, &token, &created, fresh_issuer, allow_delete)?;

    shutdown_signal(stop_tx).await;
    for server in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server failed"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
    }
    for (name, worker) in workers {
        if let Err(e) = worker.await {
            tracing::error!(error = %e, worker = name, "background task failed");
        }
    }
    Ok(())
}

fn print_banner(
    urls: &ServeUrls,
    token: &str,
    created: &[String],
    fresh_issuer: bool,
    allow_delete: bool,
) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // One JSON line first, for scripts and tests.
    writeln!(out, "{}", serde_json::to_string(urls)?)?;
    let data_dir = &urls.data_dir;
    if !created.is_empty() || fresh_issuer {
        writeln!(
            out,
            "\nCreated in {data_dir}: {}{}",
            created.join(", "),
            if fresh_issuer { ", issuer.pem" } else { "" }
        )?;
    }
    writeln!(
        out,
        "\nCIS is running (DEV keys and a DEV token issuer: never use this data for anything real)\n\
         \n  Change API   {change}\n  Person API   {person}\n  Token issuer {issuer}  (POST {token_url}, client id/secret in {data_dir}/clients.json)\n  Well-known   {well_known}\n  Audience     {aud}\n  Delete       {delete}\n  Writes       {writes}\n  Webhooks     {webhooks}\n\
         \nA token with every scope, valid 24 h (or: cis token --data-dir {data_dir} --scopes \"write\"):\n\n  export TOKEN={token}\n\
         \nTry:\n\n  cis seed --data-dir {data_dir} --users 10\n  curl -s \"{change}/v2/version\"\n  curl -s -H \"Authorization: Bearer $TOKEN\" \"{person}/v2/users/id/all?connectionMethod=github\"\n  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' --data @profile.json \"{change}/v2/user\"\n",
        change = urls.change_url,
        person = urls.person_url,
        issuer = urls.issuer_url,
        token_url = urls.token_url,
        well_known = urls.well_known_url,
        aud = urls.audience,
        writes = if urls.stream_bypass {
            "direct (CIS_STREAM_BYPASS=false queues them)"
        } else {
            "queued, integrated by the local processor (GET /v2/status?sequenceNumber=)"
        },
        webhooks = match &urls.notifier {
            Some(n) if !n.rp_urls.is_empty() => format!(
                "{} RP(s); tokens: iss {}, aud {}, JWKS {} (cis notify status)",
                n.rp_urls.len(),
                n.issuer,
                n.audience,
                n.jwks_url
            ),
            _ => "off (set CIS_RP_URLS)".to_owned(),
        },
        delete = if allow_delete {
            "enabled"
        } else {
            "disabled (--allow-delete)"
        },
    )?;
    out.flush()?;
    Ok(())
}
