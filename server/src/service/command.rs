//! `command`: ask the event to change. The command goes to the state log behind its channel, whose
//! domain decides it against the current state; the event it yields is recorded on the channel.

use super::directory::{EventEntry, with_log};
use super::outcome::{Finished, Handled, result};
use super::state_log::StateLog;
use super::{Asker, resolve, scoped_key};
use crate::domain::Domain;
use crate::domain::access;
use crate::domain::channel::Channel;
use crate::error::AppError;
use crate::store::{Appended, Store};
use makeroom_protocol::{Command, DomainCommand, ErrorCode, PublishResult, Sender};

pub(super) async fn command(asker: Asker, request: Command) -> Finished {
    Finished::reply(record(&asker, request).await)
}

async fn record(asker: &Asker, request: Command) -> Handled {
    let (_, channel) = resolve(&asker.auth, &request.channel)?;
    asker.check(&channel, access::may_command).await?;
    let idempotency_key = scoped_key(&asker.auth.member.id, request.key)?;
    let (event, store, who) = (asker.event(), asker.store(), asker.auth.sender());
    let log = event.log(store, &channel).await?;
    let command = request.command;
    let appended = with_log!(log, |log| record_on(event, store, log, &who, &channel, command, idempotency_key).await)?;
    result(&PublishResult { epoch: appended.epoch.to_string(), offset: appended.offset, duplicate: appended.duplicate })
}

/// Records `command` on `log` if it is that log's kind of command.
async fn record_on<D: Domain>(
    event: &EventEntry,
    store: &dyn Store,
    log: &StateLog<D>,
    who: &Sender,
    channel: &Channel,
    command: DomainCommand,
    idempotency_key: Option<String>,
) -> Result<Appended, AppError> {
    let command = D::Command::try_from(command).map_err(|other| wrong_channel(&other, channel))?;
    Ok(event.command(store, log, who, command, idempotency_key).await?.appended)
}

/// A command sent on a state channel that does not take it.
fn wrong_channel(command: &DomainCommand, channel: &Channel) -> AppError {
    let (name, home) = (command.type_name(), command.channel_kind().channel_name());
    AppError::refused(
        ErrorCode::BadRequest,
        format!("`{name}` is a command for `{home}`; send it there, not on `{channel}`"),
    )
}
