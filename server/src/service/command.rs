//! `command`: ask the event to change. The command goes to the state log behind its channel, whose
//! domain decides it against the current state; the event it yields is recorded on the channel.

use super::directory::with_log;
use super::outcome::{Finished, Handled, result};
use super::{Asker, resolve, scoped_key};
use crate::domain::access;
use crate::error::AppError;
use makeroom_protocol::{Command, ErrorCode, PublishResult};
use serde::de::DeserializeOwned;

pub(super) async fn command(asker: Asker, request: Command) -> Finished {
    Finished::reply(record(&asker, request).await)
}

async fn record(asker: &Asker, request: Command) -> Handled {
    let (_, channel) = resolve(&asker.auth, &request.channel)?;
    asker.check(&channel, access::may_command).await?;
    let idempotency_key = scoped_key(&asker.auth.member.id, request.key)?;
    let (event, store, who) = (asker.event(), asker.store(), asker.auth.sender());
    let log = event.log(store, &channel).await?;
    let raw = request.command.get();
    let appended = with_log!(log, |log| event.command(store, log, &who, parse(raw)?, idempotency_key).await?.appended);
    result(&PublishResult { epoch: appended.epoch.to_string(), offset: appended.offset, duplicate: appended.duplicate })
}

/// The command in the shape its channel's domain takes.
fn parse<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    serde_json::from_str(raw).map_err(|err| AppError::refused(ErrorCode::BadRequest, format!("bad command: {err}")))
}
