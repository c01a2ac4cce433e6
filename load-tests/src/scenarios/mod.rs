//! The scenarios. Each takes the servers it should drive (already started) and returns a report.

pub mod chaos;
pub mod connections;
pub mod event_day;
pub mod rooms;
pub mod storm;

use crate::servers::{FloorRelay, Makeroom, Peer, Redis};
use crate::sys::{rss_bytes, status_bytes};
use crate::wire::Proto;

/// The servers a run drives: one or more instances of one target, plus whatever they depend on.
pub struct Targets {
    pub proto: Proto,
    /// Makeroom instances (several share `redis`); empty for the Socket.IO peer.
    pub makeroom: Vec<Makeroom>,
    pub peers: Vec<Peer>,
    /// The floor relay, when it is the target (it speaks Makeroom's protocol).
    pub floor: Option<FloorRelay>,
    pub redis: Option<Redis>,
}

impl Targets {
    /// One Makeroom instance alone (the embedded store).
    pub fn single(server: Makeroom) -> Self {
        Targets { proto: Proto::Makeroom, makeroom: vec![server], peers: Vec::new(), floor: None, redis: None }
    }

    /// The first Makeroom instance (the one that created the demo event), if any.
    pub fn server(&self) -> Option<&Makeroom> {
        self.makeroom.first()
    }

    pub fn ports(&self) -> Vec<u16> {
        let makeroom = self.makeroom.iter().map(|m| m.port);
        let peers = self.peers.iter().map(|p| p.port);
        makeroom.chain(peers).chain(self.floor.iter().map(|f| f.port)).collect()
    }

    pub fn instances(&self) -> usize {
        self.ports().len()
    }

    /// Every server process whose CPU and memory count (Redis included).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.makeroom.iter().map(Makeroom::pid).collect();
        pids.extend(self.peers.iter().map(Peer::pid));
        pids.extend(self.floor.iter().map(FloorRelay::pid));
        pids.extend(self.redis.iter().map(Redis::pid));
        pids
    }

    pub fn rss(&self) -> u64 {
        self.pids().into_iter().map(rss_bytes).sum()
    }

    pub fn peak_rss(&self) -> u64 {
        self.pids().into_iter().map(|pid| status_bytes(pid, "VmHWM")).sum()
    }

    pub fn name(&self) -> String {
        if self.floor.is_some() {
            return "floor".into();
        }
        match (self.proto, self.redis.is_some()) {
            (Proto::Makeroom, false) => "makeroom".into(),
            (Proto::Makeroom, true) => "makeroom+redis".into(),
            (Proto::Socketio, false) => "socketio".into(),
            (Proto::Socketio, true) => "socketio+redis".into(),
        }
    }
}
