//! What carrying out a request ends in: its reply, what it changes about the connection, and how a
//! connection ends. Shared by the session and the request functions (which return these).

use super::Authenticated;
use crate::error::AppError;
use makeroom_protocol::close;
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A request's reply: its result, or why it failed.
pub type Handled = Result<Box<RawValue>, AppError>;

pub(super) fn result<T: Serialize>(value: &T) -> Handled {
    to_raw_value(value).map_err(|err| AppError::Unexpected(err.into()))
}

/// How a connection ends: a close code and a reason the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

impl Close {
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Close { code, reason }
    }

    /// Why the hub closed a connection.
    pub(super) fn from_hub(code: u16) -> Self {
        match code {
            close::SLOW_CONSUMER => Close::new(code, "too slow to keep up; reconnect and recover"),
            close::REVOKED => Close::new(code, "removed from the event"),
            close::GOING_AWAY => Close::new(code, "the server is restarting; reconnect"),
            _ => Close::new(code, "closed by the server"),
        }
    }
}

/// What finishing a request changes about the connection, applied when its reply is written.
pub(super) enum Effect {
    None,
    /// `hello` succeeded: this is who the connection is now.
    Authenticated(Box<Authenticated>),
    /// The subscription to `key` starts after `last`.
    Subscribed {
        key: Arc<str>,
        last: u64,
    },
    /// The subscription to `key` could not start (a new one is dropped; an existing one goes on).
    NotSubscribed {
        key: Arc<str>,
    },
    /// The connection must close after this reply.
    Close(Close),
}

/// A request's reply and what it changes.
pub(super) struct Finished {
    pub outcome: Handled,
    pub effect: Effect,
}

impl Finished {
    pub fn reply(outcome: Handled) -> Self {
        Finished { outcome, effect: Effect::None }
    }
}

pub(super) type Work = Pin<Box<dyn Future<Output = Finished>>>;
