//! The organiser's reading connection: a channel's newest offset and its whole stored history,
//! read with `history` over one request/reply connection that is reopened if it drops (through a
//! proxy, an instance may be killed under it). The truth that `event-day` and `chaos` settle
//! against. It only reads: it must never publish or send a command.

use crate::wire::{self, Conn, Proto};
use anyhow::{Result, bail};
use makeroom_protocol::{ClientFrame, History, HistoryResult, Publication, Request};
use serde_json::value::RawValue;
use std::net::Ipv4Addr;
use std::time::Duration;

/// History page size (the server's maximum).
const HISTORY_PAGE: u32 = 500;
/// Attempts of one request, reconnecting in between, before giving up.
const ATTEMPTS: u64 = 20;
/// Pages of one channel at most (a bound far above any run's history).
const MAX_PAGES: usize = 100_000;

pub struct Reader {
    port: u16,
    token: String,
    conn: Option<Conn>,
    next_id: u64,
}

/// One channel's stored history, oldest first.
pub struct Stored {
    pub epoch: String,
    /// The newest offset.
    pub top: u64,
    /// The oldest offset history still holds.
    pub first: u64,
    pub publications: Vec<Publication>,
}

impl Reader {
    pub fn new(port: u16, token: &str) -> Self {
        Reader { port, token: token.to_string(), conn: None, next_id: 0 }
    }

    fn request_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    async fn call(&mut self, request: Request) -> Result<Box<RawValue>> {
        for attempt in 0..ATTEMPTS {
            if self.conn.is_none() {
                if let Ok(mut conn) = Conn::open(Proto::Makeroom, self.port, Ipv4Addr::LOCALHOST).await {
                    let id = self.request_id();
                    if conn.call(id, wire::hello(id, &self.token), |_| {}).await.is_ok() {
                        self.conn = Some(conn);
                    }
                }
                if self.conn.is_none() {
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                    continue;
                }
            }
            let id = self.request_id();
            let Some(conn) = self.conn.as_mut() else { continue };
            let frame = serde_json::to_string(&ClientFrame { id, request: request.clone() })?;
            match conn.call(id, frame, |_| {}).await {
                Ok(result) => return Ok(result),
                Err(err) if err.to_string().contains("unavailable") || err.to_string().contains("rate_limited") => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(_) => {
                    self.conn = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        bail!("the organiser could not read history on port {}", self.port)
    }

    async fn page(&mut self, channel: &str, before: Option<u64>, limit: u32) -> Result<HistoryResult> {
        let request = Request::History(History { channel: channel.to_string(), before, limit: Some(limit) });
        Ok(serde_json::from_str(self.call(request).await?.get())?)
    }

    /// The channel's newest offset.
    pub async fn top(&mut self, channel: &str) -> Result<u64> {
        Ok(self.page(channel, None, 1).await?.offset)
    }

    /// Every publication history holds, paging back from the newest.
    pub async fn history(&mut self, channel: &str) -> Result<Stored> {
        let mut before = None;
        let mut pages: Vec<Vec<Publication>> = Vec::new();
        let mut head: Option<(String, u64, u64)> = None;
        for _ in 0..MAX_PAGES {
            let page = self.page(channel, before, HISTORY_PAGE).await?;
            if head.is_none() {
                head = Some((page.epoch.clone(), page.offset, page.first));
            }
            let Some(oldest) = page.publications.first().map(|p| p.offset) else { break };
            let done = oldest <= page.first.max(1);
            pages.push(page.publications);
            if done {
                break;
            }
            before = Some(oldest);
        }
        let (epoch, top, first) = head.unwrap_or_default();
        let publications = pages.into_iter().rev().flatten().collect();
        Ok(Stored { epoch, top, first, publications })
    }

    pub async fn close(self) {
        if let Some(conn) = self.conn {
            conn.close().await;
        }
    }
}
