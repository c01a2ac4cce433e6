//! The application layer: what a connection may ask and how each request is carried out, apart from
//! any socket. `Session` is one connection's protocol state (who it is, what it subscribes to, its
//! requests in order); the request modules are async functions that take what they need and return
//! the reply. It owns the event directory and the state logs, which follow their channels like any
//! subscriber. It calls the domain (rules), the hub (fan-out) and the store (logs), never the transport.

pub mod directory;
pub mod export;
mod markdown;
pub mod session;
pub mod state_log;

mod command;
mod hello;
mod outcome;
mod publish;
mod reads;
mod subscribe;
mod subscriptions;
mod zip;

use crate::auth::{Claims, Tokens};
use crate::config::LimitsConfig;
use crate::domain::DomainError;
use crate::domain::access::{self, Reader};
use crate::domain::channel::Channel;
use crate::error::AppError;
use crate::hub::{ConnId, Hub, Outbox};
use crate::limits::{ConnectionCounter, KeyedLimiter};
use crate::store::{ChannelKey, Store};
use directory::{EventDirectory, EventEntry};
use makeroom_protocol::{ErrorCode, Member, Sender};
use std::sync::Arc;
use std::time::Duration;

pub use outcome::{Close, Handled};
pub use session::Session;

/// Everything the application layer needs, shared by every connection and HTTP request.
pub struct Services {
    pub tokens: Tokens,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub events: Arc<EventDirectory>,
    pub limits: LimitsConfig,
    pub participant_limiter: KeyedLimiter,
    pub connections_per_participant: ConnectionCounter<String>,
    /// Messages kept per chat channel.
    pub history_limit: u64,
    /// Told to clients in `hello`, so they know how often to expect a ping.
    pub heartbeat_interval: Duration,
    /// This process's id (`ids::new_instance_id`), the first part of every error's reference.
    pub instance: String,
}

impl Services {
    pub fn new(
        tokens: Tokens,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        events: Arc<EventDirectory>,
        limits: LimitsConfig,
        history_limit: u64,
        heartbeat_interval: Duration,
    ) -> Self {
        Services {
            participant_limiter: KeyedLimiter::new(
                limits.participant_requests_per_second,
                limits.participant_request_burst,
            ),
            connections_per_participant: ConnectionCounter::new(limits.max_connections_per_participant),
            tokens,
            store,
            hub,
            events,
            limits,
            history_limit,
            heartbeat_interval,
            instance: crate::ids::new_instance_id(),
        }
    }

    /// Names one reply's error in the logs of every instance: `instance.connection.request`.
    pub fn error_reference(&self, conn: ConnId, request: Option<u64>) -> String {
        match request {
            Some(request) => format!("{}.{conn}.{request}", self.instance),
            None => format!("{}.{conn}.-", self.instance),
        }
    }
}

/// The person behind a connection after a good `hello`.
pub struct Authenticated {
    pub claims: Claims,
    pub event: Arc<EventEntry>,
    pub member: Arc<Member>,
}

impl Authenticated {
    pub fn sender(&self) -> Sender {
        Sender { id: self.member.id.clone(), name: self.member.name.clone(), role: self.member.role }
    }
}

/// What a request under way holds: the services, who asks, and where their pushes go.
#[derive(Clone)]
pub(crate) struct Asker {
    pub services: Arc<Services>,
    pub auth: Arc<Authenticated>,
    pub conn: ConnId,
    pub outbox: Outbox,
}

impl Asker {
    fn store(&self) -> &dyn Store {
        self.services.store.as_ref()
    }

    fn event(&self) -> &EventEntry {
        &self.auth.event
    }

    /// Checks that the channel's team exists, reading the roster's newest entries first if this
    /// instance has not heard of it (in a cluster it may have just been made elsewhere).
    async fn check_team(&self, channel: &Channel) -> Result<(), AppError> {
        let Some(team) = channel.team() else { return Ok(()) };
        if !self.event().roster().teams.contains_key(team) {
            self.event().roster.catch_up(self.store()).await?;
            if !self.event().roster().teams.contains_key(team) {
                return Err(DomainError::NotFound(format!("team `{team}`")).into());
            }
        }
        Ok(())
    }

    /// Checks the asker against `rule` with their team as the roster has it now; a refusal is
    /// checked again after reading the roster's newest entries (a team change may be on its way).
    async fn check(
        &self,
        channel: &Channel,
        rule: fn(Reader, &Channel) -> Result<(), DomainError>,
    ) -> Result<(), AppError> {
        self.check_team(channel).await?;
        let allowed = |auth: &Authenticated| {
            let roster = auth.event.roster();
            rule(Reader::of(&roster, &auth.claims.sub, auth.claims.role), channel)
        };
        if allowed(&self.auth).is_ok() {
            return Ok(());
        }
        self.event().roster.catch_up(self.store()).await?;
        Ok(allowed(&self.auth)?)
    }

    async fn check_read(&self, channel: &Channel) -> Result<(), AppError> {
        self.check(channel, access::may_read).await
    }
}

const MAX_KEY_CHARS: usize = 128;

/// An idempotency key as the store keeps it: checked, and scoped to its sender, so two phones that
/// happen to pick the same key never collide.
fn scoped_key(sender: &str, key: Option<String>) -> Result<Option<String>, AppError> {
    match key {
        Some(key) if key.is_empty() || key.chars().count() > MAX_KEY_CHARS => {
            Err(AppError::refused(ErrorCode::BadRequest, format!("`key` holds 1 to {MAX_KEY_CHARS} characters")))
        }
        Some(key) => Ok(Some(format!("{sender}:{key}"))),
        None => Ok(None),
    }
}

/// A channel named by a client, and its store key (the event comes from the token).
fn resolve(auth: &Authenticated, name: &str) -> Result<(ChannelKey, Channel), AppError> {
    let channel = Channel::parse(name)?;
    Ok((auth.event.channel_key(&channel), channel))
}

#[cfg(test)]
mod tests;
