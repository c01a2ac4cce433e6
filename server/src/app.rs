//! Building the server: shared state (built once, outside actix's per-worker closure), the HTTP
//! listener, and running until stopped. `main` and the tests use this same code path.

use crate::auth::{Subject, TokenKind, Tokens, load_or_create_secret};
use crate::config::{ServeConfig, StoreConfig, TokenConfig};
use crate::domain::roster::{Name, Participant};
use crate::hub::Hub;
use crate::limits::ConnectionCounter;
use crate::service::Services;
use crate::service::directory::{EventDirectory, EventEntry, system_sender};
use crate::store::Store;
use crate::store::redis::{RedisConfig, RedisStore};
use crate::store::sqlite::SqliteStore;
use crate::transport::api_limits::{ApiLimits, TrustedProxies};
use crate::transport::{self, AppState};
use anyhow::Context;
use makeroom_protocol::Role;
use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How long a shutdown waits for WebSockets to close (a closing connection lingers up to 1 s).
const SHUTDOWN_CLOSE_WAIT: Duration = Duration::from_millis(1500);

/// Holds the data folder for this process: two servers on one embedded store would corrupt nothing
/// (SQLite locks) but would each believe their in-memory state is the whole truth.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the data folder {}", dir.display()))?;
        let path = dir.join("makeroom.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "another Makeroom process is using the data folder {}; stop it or choose another --data",
                dir.display()
            )
        })?;
        Ok(DataDirLock { _file: file })
    }
}

/// The embedded store, the hub it feeds and the events read back from it.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub events: Arc<EventDirectory>,
    pub tokens: Tokens,
    /// Held for the embedded store; Redis is shared on purpose.
    lock: Option<DataDirLock>,
}

impl Backend {
    /// The embedded store in the data folder, or Redis if `--redis` is given.
    pub async fn open(store_config: &StoreConfig, token_config: &TokenConfig) -> anyhow::Result<Self> {
        let hub = Arc::new(Hub::new());
        let (store, lock, secret): (Arc<dyn Store>, _, _) = match &store_config.redis_url {
            None => {
                let lock = DataDirLock::acquire(&store_config.data_dir)?;
                let store = Arc::new(SqliteStore::open(&store_config.data_dir, hub.clone())?);
                let secret = load_or_create_secret(token_config.jwt_secret.as_deref(), &store_config.data_dir)?;
                (store, Some(lock), secret)
            }
            Some(url) => {
                let config = RedisConfig {
                    url: url.clone(),
                    prefix: store_config.redis_prefix.clone(),
                    idempotency_ttl: Duration::from_secs(store_config.idempotency_ttl_secs),
                    position_check: Duration::from_secs_f64(store_config.position_check_secs.max(0.05)),
                    presence_ttl: Duration::from_secs_f64(store_config.presence_ttl_secs.max(0.3)),
                    wait_replicas: store_config.redis_wait_replicas,
                    wait_timeout: Duration::from_millis(store_config.redis_wait_timeout_ms.max(1)),
                };
                let store = RedisStore::open(config, hub.clone()).await?;
                hub.set_presence_relay(store.presence_relay());
                let secret = match token_config.jwt_secret.as_deref() {
                    Some(secret) => load_or_create_secret(Some(secret), &store_config.data_dir)?,
                    None => store.shared_secret().await?.into_bytes(),
                };
                (store, None, secret)
            }
        };
        let events = EventDirectory::load(store.clone(), hub.clone()).await?;
        let tokens = Tokens::new(&secret, token_config.access_token_ttl_secs, token_config.refresh_token_ttl_secs)
            .with_organiser_access_ttl(token_config.organiser_access_token_ttl_secs);
        Ok(Backend { store, hub, events, tokens, lock })
    }
}

/// The links that open an event: printed at start-up and by `makeroom event create`.
#[derive(Debug, serde::Serialize)]
pub struct EventLinks {
    pub event_id: String,
    pub event_name: String,
    pub join_code: String,
    pub join_link: String,
    pub organiser_link: String,
    pub display_link: String,
}

/// Links for an event, with fresh refresh tokens for its first organiser and display (created if
/// missing). Tokens go in the fragment (`#`), which browsers never send to a server or proxy.
pub async fn event_links(
    events: &EventDirectory,
    tokens: &Tokens,
    event: &EventEntry,
    public_url: &str,
) -> anyhow::Result<EventLinks> {
    let first_with_role = |role: Role| -> Option<Participant> {
        let roster = event.roster();
        let mut people: Vec<_> = roster.participants.values().filter(|p| p.role == role && !p.removed).collect();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        people.first().map(|p| (*p).clone())
    };
    let ensure = async |role: Role, name: &str| -> anyhow::Result<Participant> {
        if let Some(existing) = first_with_role(role) {
            return Ok(existing);
        }
        let name = Name::try_from(name.to_string())?;
        Ok(events.add_participant(event, Some(&system_sender()), name, role, vec![], None).await?)
    };
    let organiser = ensure(Role::Organiser, "Organiser").await?;
    let display = ensure(Role::Display, "Main room display").await?;
    let refresh_link = |person: &Participant, page: &str| -> anyhow::Result<String> {
        let subject =
            Subject { participant: &person.id, event: &event.info.id, role: person.role, name: person.name.as_str() };
        let (token, _) = tokens.issue(&subject, TokenKind::Refresh)?;
        Ok(format!("{public_url}/{page}#refresh={token}&code={}", event.join_code()))
    };
    Ok(EventLinks {
        event_id: event.info.id.clone(),
        event_name: event.name(),
        join_code: event.join_code(),
        join_link: format!("{public_url}/join?code={}", event.join_code()),
        organiser_link: refresh_link(&organiser, "organiser")?,
        display_link: refresh_link(&display, "display")?,
    })
}

pub struct Application {
    port: u16,
    server: actix_server::Server,
    shutdown: watch::Sender<bool>,
    pub state: Arc<AppState>,
    _data_lock: Option<DataDirLock>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and prepares the server without running it.
    pub fn build(config: &ServeConfig, backend: Backend) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
        let address = listener.local_addr()?;
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{address}"));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let services = Arc::new(Services::new(
            backend.tokens,
            backend.store,
            backend.hub,
            backend.events,
            config.limits.clone(),
            config.store.history_limit,
            config.heartbeat_interval(),
        ));
        tracing::info!(instance = %services.instance, "every error reference from this process starts with its instance id");
        let state = Arc::new(AppState {
            services,
            connections_per_address: ConnectionCounter::new(config.limits.max_connections_per_address),
            api_limits: ApiLimits::new(&config.limits),
            trusted_proxies: TrustedProxies::parse(&config.trusted_proxies)?,
            allowed_origins: config
                .allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .collect(),
            public_url,
            heartbeat_interval: config.heartbeat_interval(),
            client_timeout: config.client_timeout(),
            hello_timeout: config.hello_timeout(),
            token_warning: config.token_warning(),
            shutdown: shutdown_rx,
            open_sockets: std::sync::atomic::AtomicUsize::new(0),
        });
        let server = transport::http::server(state.clone(), listener, config.workers, config.web_dir.clone())?;
        Ok(Application { port: address.port(), server, shutdown: shutdown_tx, state, _data_lock: backend.lock })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT or SIGTERM, then tells every connection to reconnect elsewhere and stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let (shutdown, state) = (self.shutdown, self.state.clone());
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: closing connections with 1001 (going away)");
            let _ = shutdown.send(true);
            state.services.hub.close_all(makeroom_protocol::close::GOING_AWAY);
            // Connections run as tasks of their own, which the HTTP server's graceful stop does not
            // wait for: give them time to send their close frames and hear the clients hang up.
            let deadline = tokio::time::Instant::now() + SHUTDOWN_CLOSE_WAIT;
            while state.open_sockets.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            handle.stop(true).await;
        });
        self.server.await.context("the HTTP server failed")
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
