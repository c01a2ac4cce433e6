//! Makeroom's server as a library: `main.rs` is a thin shell over `app`, and the tests use the same
//! code paths.
//!
//! Layers, each knowing only the ones below it: `transport` (WebSocket, HTTP) calls `domain` (the
//! event's rules) and `hub` (fan-out, presence); both stand on `store` (durable channel logs).

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod export;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod store;
pub mod transport;
