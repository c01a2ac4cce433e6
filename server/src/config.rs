//! Every setting of the server in one place: command-line flags with `MAKEROOM_*` environment twins,
//! parsed once at start-up. Nothing else in the server reads the environment.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "makeroom", version, about = "Real-time rooms, briefs and boards for community making events")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up and matched at once: the size of `serve`'s settings costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run a Makeroom instance. Creates a demo event on first start and prints the links to open.
    Serve(ServeConfig),
    /// Manage events in a data folder (while no server runs on it).
    #[command(subcommand)]
    Event(EventCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Create an event and print its organiser link, display link and participant join code.
    Create(CreateEventArgs),
}

#[derive(Debug, Args)]
pub struct CreateEventArgs {
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub tokens: TokenConfig,
    /// The address people open, used in the printed links.
    #[arg(long, env = "MAKEROOM_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// Print the result as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Folder for the embedded store, the signing secret and the lock file.
    #[arg(long = "data", env = "MAKEROOM_DATA", default_value = "./makeroom-data")]
    pub data_dir: PathBuf,
    /// Run against Redis (cluster mode: several instances share it) instead of the embedded store.
    #[arg(long = "redis", env = "MAKEROOM_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "MAKEROOM_REDIS_PREFIX", default_value = "makeroom")]
    pub redis_prefix: String,
    /// Seconds an idempotency key is remembered in Redis (the embedded store keeps it with the message).
    #[arg(long = "idempotency-ttl", env = "MAKEROOM_IDEMPOTENCY_TTL", default_value_t = 72 * 3600)]
    pub idempotency_ttl_secs: u64,
    /// Seconds between checks that pub/sub lost nothing (each watched channel's top offset in Redis).
    #[arg(long = "position-check", env = "MAKEROOM_POSITION_CHECK", default_value_t = 2.0)]
    pub position_check_secs: f64,
    /// Seconds a presence entry in Redis lives unrefreshed: a crashed instance's people leave presence
    /// within this time (entries are refreshed every third of it).
    #[arg(long = "presence-ttl", env = "MAKEROOM_PRESENCE_TTL", default_value_t = 30.0)]
    pub presence_ttl_secs: f64,
    /// Cluster: an append (publish or command) is acknowledged only once this many Redis replicas hold
    /// it (`WAIT`); if fewer confirm within `--redis-wait-timeout-ms`, the client gets the retryable
    /// `unavailable`. 0 (the default) acknowledges as soon as the primary ran the append.
    #[arg(long, env = "MAKEROOM_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// How long an append waits for `--redis-wait-replicas` replicas, in milliseconds.
    #[arg(long, env = "MAKEROOM_REDIS_WAIT_TIMEOUT_MS", default_value_t = 500)]
    pub redis_wait_timeout_ms: u64,
    /// Chat messages kept per channel; older ones leave history (recovery past them reports `recovered: false`).
    #[arg(long, env = "MAKEROOM_HISTORY_LIMIT", default_value_t = 10_000)]
    pub history_limit: u64,
}

#[derive(Debug, Clone, Args)]
pub struct TokenConfig {
    /// HS256 signing secret. Without it, one is generated once and kept in the data folder.
    #[arg(long, env = "MAKEROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Lifetime of access tokens (the ones a connection presents), in seconds.
    #[arg(long = "access-token-ttl", env = "MAKEROOM_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    pub access_token_ttl_secs: u64,
    /// Lifetime of organisers' access tokens, in seconds, if it should differ (usually shorter).
    #[arg(long = "organiser-access-token-ttl", env = "MAKEROOM_ORGANISER_ACCESS_TOKEN_TTL")]
    pub organiser_access_token_ttl_secs: Option<u64>,
    /// Lifetime of refresh tokens (kept by a phone or in a link, traded for access tokens), in seconds.
    #[arg(long = "refresh-token-ttl", env = "MAKEROOM_REFRESH_TOKEN_TTL", default_value_t = 7 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on. Port 0 picks a free port (the chosen one is printed).
    #[arg(long, env = "MAKEROOM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The address people open, used in the printed links. Defaults to `http://` + the bound address.
    #[arg(long, env = "MAKEROOM_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub tokens: TokenConfig,
    #[command(flatten)]
    pub limits: LimitsConfig,
    /// Seconds between server pings. A connection silent for `client_timeout` is dropped.
    #[arg(long = "heartbeat-interval", env = "MAKEROOM_HEARTBEAT_INTERVAL", default_value_t = 15.0)]
    pub heartbeat_interval_secs: f64,
    /// Seconds without any frame or pong after which a connection is considered dead.
    #[arg(long = "client-timeout", env = "MAKEROOM_CLIENT_TIMEOUT", default_value_t = 45.0)]
    pub client_timeout_secs: f64,
    /// Seconds a new connection has to send `hello`.
    #[arg(long = "hello-timeout", env = "MAKEROOM_HELLO_TIMEOUT", default_value_t = 10.0)]
    pub hello_timeout_secs: f64,
    /// Seconds before a token expires at which the connection is told to refresh it.
    #[arg(long = "token-warning", env = "MAKEROOM_TOKEN_WARNING", default_value_t = 60.0)]
    pub token_warning_secs: f64,
    /// HTTP worker threads (each runs its own connections; state is shared). 0 means one per core.
    #[arg(long, env = "MAKEROOM_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Origins (scheme://host[:port]) whose pages may open WebSockets, comma separated. Always
    /// allowed: the server's own origin (the request's Host, and the public URL) and clients that send
    /// no Origin (native apps, load generators). `*` allows any.
    #[arg(long, env = "MAKEROOM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Proxies (addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For` names the
    /// client for the HTTP API's limits per address. Behind HAProxy every request comes from it.
    #[arg(long, env = "MAKEROOM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long, env = "MAKEROOM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Serve the web pages from this folder, read on every request (for working on them), instead of
    /// the copies built into the binary.
    #[arg(long, env = "MAKEROOM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Do not create the demo event on an empty data folder.
    #[arg(long, env = "MAKEROOM_NO_DEMO")]
    pub no_demo: bool,
    /// The demo event's language: `en` (a Lambeth weekend) or `cy` (a Co-production Wales network day,
    /// run in Welsh, with Welsh and English text).
    #[arg(long, env = "MAKEROOM_DEMO_LANGUAGE", default_value = "en", value_parser = ["en", "cy"])]
    pub demo_language: String,
}

#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Largest request frame accepted; larger ones get a `too_large` error and the connection carries on.
    #[arg(long, env = "MAKEROOM_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Largest frame read at all; beyond it the connection is closed with 1009.
    #[arg(long, env = "MAKEROOM_MAX_FRAME_BYTES", default_value_t = 1024 * 1024)]
    pub max_frame_bytes: usize,
    /// Largest `data` payload of a publish, in bytes of JSON.
    #[arg(long, env = "MAKEROOM_MAX_DATA_BYTES", default_value_t = 16 * 1024)]
    pub max_data_bytes: usize,
    /// Channels one connection may subscribe to at once.
    #[arg(long, env = "MAKEROOM_MAX_SUBSCRIPTIONS", default_value_t = 64)]
    pub max_subscriptions: usize,
    /// Messages waiting for one slow connection before it is disconnected (it recovers from history).
    #[arg(long, env = "MAKEROOM_OUTBOX_CAPACITY", default_value_t = 1024)]
    pub outbox_capacity: usize,
    /// Requests per second one connection may make, sustained.
    #[arg(long, env = "MAKEROOM_REQUESTS_PER_SECOND", default_value_t = 20)]
    pub requests_per_second: u32,
    /// Requests one connection may make in a burst above the sustained rate.
    #[arg(long, env = "MAKEROOM_REQUEST_BURST", default_value_t = 60)]
    pub request_burst: u32,
    /// Requests per second one participant may make across all their connections, sustained.
    #[arg(long, env = "MAKEROOM_PARTICIPANT_REQUESTS_PER_SECOND", default_value_t = 40)]
    pub participant_requests_per_second: u32,
    /// Requests one participant may make in a burst, across all their connections.
    #[arg(long, env = "MAKEROOM_PARTICIPANT_REQUEST_BURST", default_value_t = 120)]
    pub participant_request_burst: u32,
    /// Connections one participant may hold at once (phone, laptop, a few tabs). 0: no limit.
    #[arg(long, env = "MAKEROOM_MAX_CONNECTIONS_PER_PARTICIPANT", default_value_t = 10)]
    pub max_connections_per_participant: usize,
    /// Connections from one IP address at once. A venue's wifi puts every phone behind one address,
    /// so this is high; behind a proxy every connection comes from the proxy's address. 0: no limit.
    #[arg(long, env = "MAKEROOM_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 5000)]
    pub max_connections_per_address: usize,
    /// Join-code lookups, joins and token trades (the HTTP API anyone can call) per second from one
    /// client address, sustained. Hundreds of phones on a venue's wifi share one address.
    #[arg(long, env = "MAKEROOM_API_REQUESTS_PER_SECOND", default_value_t = 10)]
    pub api_requests_per_second: u32,
    /// Those requests one address may make in a burst (a room of people joining at once).
    #[arg(long, env = "MAKEROOM_API_REQUEST_BURST", default_value_t = 1000)]
    pub api_request_burst: u32,
    /// What a lookup that fails (an unknown join code, a refresh token that is no good) costs its
    /// address, counted in requests: guessing join codes is stopped long before joining is.
    #[arg(long, env = "MAKEROOM_FAILED_LOOKUP_COST", default_value_t = 25)]
    pub failed_lookup_cost: u32,
    /// People who may join one event per second with its code, sustained, from all addresses.
    #[arg(long, env = "MAKEROOM_EVENT_JOINS_PER_SECOND", default_value_t = 5)]
    pub event_joins_per_second: u32,
    /// People who may join one event at once, above the sustained rate.
    #[arg(long, env = "MAKEROOM_EVENT_JOIN_BURST", default_value_t = 300)]
    pub event_join_burst: u32,
    /// Most messages a `subscribe` with `since` replays; a longer gap reports `recovered: false`.
    #[arg(long, env = "MAKEROOM_MAX_RECOVERY", default_value_t = 5_000)]
    pub max_recovery: u64,
}

impl ServeConfig {
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_interval_secs.max(0.05))
    }
    pub fn client_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.client_timeout_secs.max(0.1))
    }
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.hello_timeout_secs.max(0.1))
    }
    pub fn token_warning(&self) -> Duration {
        Duration::from_secs_f64(self.token_warning_secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_match_the_readme() {
        let cli = Cli::try_parse_from(["makeroom", "serve"]).expect("parses");
        let Command::Serve(config) = cli.command else { panic!("not serve") };
        assert_eq!(config.bind, "127.0.0.1:8080");
        assert_eq!(config.store.data_dir, PathBuf::from("./makeroom-data"));
        assert_eq!(config.limits.max_message_bytes, 65536);
        assert_eq!(config.client_timeout(), Duration::from_secs(45));
    }

    #[test]
    fn flags_override_defaults() {
        let cli = Cli::try_parse_from([
            "makeroom",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data",
            "/tmp/x",
            "--history-limit",
            "5",
        ])
        .expect("parses");
        let Command::Serve(config) = cli.command else { panic!("not serve") };
        assert_eq!(config.bind, "127.0.0.1:0");
        assert_eq!(config.store.history_limit, 5);
    }
}
