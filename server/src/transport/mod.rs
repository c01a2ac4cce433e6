//! Transport: how the outside world reaches the server. WebSocket connections (`ws`, over the socket
//! it takes from the HTTP server at the upgrade, `websocket` for its frames), the HTTP API (`http`,
//! with the limits of its calls that need no token in `api_limits`), the join link's QR code
//! (`join_qr`) and the web pages (`pages`). No event rules live here; requests are handed to `service`.

pub mod api_limits;
pub mod http;
pub mod join_qr;
pub mod pages;
mod websocket;
pub mod ws;

use crate::limits::ConnectionCounter;
use crate::service::Services;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What the transport needs, shared by every worker: the services, and its own settings.
pub struct AppState {
    pub services: Arc<Services>,
    pub connections_per_address: ConnectionCounter<std::net::IpAddr>,
    pub api_limits: api_limits::ApiLimits,
    pub trusted_proxies: api_limits::TrustedProxies,
    pub allowed_origins: Vec<String>,
    pub public_url: String,
    pub heartbeat_interval: Duration,
    pub client_timeout: Duration,
    pub hello_timeout: Duration,
    pub token_warning: Duration,
    /// Flips to true when the server begins to shut down; connections then close with 1001.
    pub shutdown: watch::Receiver<bool>,
    /// WebSocket connections whose task is still running (their last frames may not have left):
    /// a shutdown waits for this to reach zero.
    pub open_sockets: std::sync::atomic::AtomicUsize,
}
