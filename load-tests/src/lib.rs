//! `makeroom-load`: a load generator that speaks Makeroom's protocol (and Socket.IO, to drive a peer
//! on the same workload; the floor relay speaks Makeroom's). Everything runs on one thread (a current-thread tokio runtime and a
//! `LocalSet`), so the generator can be pinned to one core and its own CPU use reported beside the
//! server's. Every loop is bounded in count and time; every socket is on 127.0.0.1.

pub mod accounting;
pub mod client;
pub mod compare;
pub mod history;
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
use servers::{FloorRelay, Makeroom, MakeroomOptions, Peer, Redis};
use std::path::PathBuf;
use wire::Proto;

/// What a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Makeroom,
    /// The Socket.IO peer (`peer/server.js`).
    Socketio,
    /// The floor relay: Makeroom's protocol on the bare stack, nothing stored.
    Floor,
}

impl Target {
    /// The protocol its clients speak.
    pub fn wire(self) -> Proto {
        match self {
            Target::Socketio => Proto::Socketio,
            Target::Makeroom | Target::Floor => Proto::Makeroom,
        }
    }
}

/// How to start the servers under test.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub makeroom: MakeroomOptions,
    /// The folder holding the Socket.IO peer (`server.js`, `node_modules`).
    pub peer_dir: PathBuf,
    /// The floor relay's binary.
    pub floor_bin: PathBuf,
    /// CPUs for every server process (`taskset -c`), e.g. `0`.
    pub cpus: Option<String>,
}

/// Starts `instances` servers of `target`; more than one share a private Redis (Makeroom's cluster
/// mode with an append-only file fsynced on every write; Socket.IO's redis-adapter, pub/sub only).
pub async fn start_targets(target: Target, instances: usize, options: &ServerOptions) -> Result<Targets> {
    let cpus = options.cpus.as_deref();
    if instances == 0 {
        bail!("no instances to start");
    }
    match target {
        Target::Floor => {
            if instances > 1 {
                bail!("the floor relay runs as one instance (its rooms are in its memory)");
            }
            let floor = FloorRelay::start(&options.floor_bin, cpus).await?;
            Ok(Targets {
                proto: Proto::Makeroom,
                makeroom: Vec::new(),
                peers: Vec::new(),
                floor: Some(floor),
                redis: None,
            })
        }
        Target::Makeroom => {
            let mut makeroom = options.makeroom.clone();
            makeroom.cpus = options.cpus.clone();
            if instances == 1 {
                return Ok(Targets::single(Makeroom::start(&makeroom).await?));
            }
            let redis = Redis::start_durable(cpus).await?;
            makeroom.redis_url = Some(redis.url());
            let mut servers = Vec::new();
            for i in 0..instances {
                // Only the first creates the demo event on the empty Redis.
                makeroom.no_demo = i > 0;
                servers.push(Makeroom::start(&makeroom).await?);
            }
            Ok(Targets {
                proto: Proto::Makeroom,
                makeroom: servers,
                peers: Vec::new(),
                floor: None,
                redis: Some(redis),
            })
        }
        Target::Socketio => {
            let redis = if instances > 1 { Some(Redis::start(cpus).await?) } else { None };
            let url = redis.as_ref().map(Redis::url);
            let mut peers = Vec::new();
            for _ in 0..instances.max(1) {
                peers.push(Peer::start(&options.peer_dir, cpus, url.as_deref()).await?);
            }
            Ok(Targets { proto: Proto::Socketio, makeroom: Vec::new(), peers, floor: None, redis })
        }
    }
}
