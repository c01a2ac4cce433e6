//! Makeroom's server as a library: `main.rs` is a thin shell over `app`, and the tests use the same
//! code paths.
//!
//! Layers, each knowing only the ones below it: `transport` (WebSocket, HTTP) hands requests to
//! `service` (the application: sessions, requests, the event directory and its state logs), which
//! calls `domain` (the event's rules, pure), `hub` (fan-out, presence) and `store` (durable channel
//! logs). `app` builds them all; `main` only parses the command line.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod hub;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod service;
pub mod store;
pub mod transport;
