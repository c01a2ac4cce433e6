//! `makeroom-load`: a load generator that speaks Makeroom's protocol (and Socket.IO, to drive a peer
//! on the same workload). Everything runs on one thread (a current-thread tokio runtime and a
//! `LocalSet`), so the generator can be pinned to one core and its own CPU use reported beside the
//! server's. Every loop is bounded in count and time; every socket is on 127.0.0.1.

pub mod accounting;
pub mod compare;
pub mod http;
pub mod report;
pub mod scenarios;
pub mod servers;
pub mod setup;
pub mod sys;
pub mod traffic;
pub mod wire;

use anyhow::{Result, bail};
use scenarios::Targets;
use servers::{Makeroom, MakeroomOptions, Peer, Redis};
use std::path::PathBuf;
use wire::Proto;

/// How to start the servers under test.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub makeroom: MakeroomOptions,
    /// The folder holding the Socket.IO peer (`server.js`, `node_modules`).
    pub peer_dir: PathBuf,
    /// CPUs for every server process (`taskset -c`), e.g. `0`.
    pub cpus: Option<String>,
}

/// Starts `instances` servers of `proto` (Socket.IO with more than one goes through Redis).
pub async fn start_targets(proto: Proto, instances: usize, options: &ServerOptions) -> Result<Targets> {
    let cpus = options.cpus.as_deref();
    match proto {
        Proto::Makeroom => {
            if instances != 1 {
                bail!(
                    "Makeroom runs as one instance today: several instances through Redis (cluster mode) is not built yet"
                );
            }
            let mut makeroom = options.makeroom.clone();
            makeroom.cpus = options.cpus.clone();
            Ok(Targets { proto, makeroom: Some(Makeroom::start(&makeroom).await?), peers: Vec::new(), redis: None })
        }
        Proto::Socketio => {
            let redis = if instances > 1 { Some(Redis::start(cpus).await?) } else { None };
            let url = redis.as_ref().map(Redis::url);
            let mut peers = Vec::new();
            for _ in 0..instances.max(1) {
                peers.push(Peer::start(&options.peer_dir, cpus, url.as_deref()).await?);
            }
            Ok(Targets { proto, makeroom: None, peers, redis })
        }
    }
}
