//! The event itself, as pure rules: what a channel is, who is in the event and which team, what a chat
//! message may hold. No async, no sockets, no storage: every rule here is a function of state and input,
//! unit-tested alone. Transport calls these rules; stores only keep what they return.

pub mod channel;
pub mod chat;
pub mod roster;

/// Why the domain refused an operation. Mapped to protocol error codes at the transport boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
}
