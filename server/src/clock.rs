//! The server's wall clock in protocol units (milliseconds since the Unix epoch).

use makeroom_protocol::Millis;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
