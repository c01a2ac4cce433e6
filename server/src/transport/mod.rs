//! Transport: how the outside world reaches the server. WebSocket connections (`ws`), the HTTP API
//! (`http`) and the web pages (`pages`). No event rules live here; they are called from `domain`.

pub mod http;
pub mod pages;
pub mod ws;
