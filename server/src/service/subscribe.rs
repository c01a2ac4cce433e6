//! `subscribe`: start receiving a channel, and with `since` first exactly what was missed.
//!
//! The race-free order: join the hub first (anything committed from then on reaches the outbox), in a
//! cluster have the store deliver the channel here, and only then read history. What history and the
//! live pushes both hold is dropped by offset when the session delivers (it holds the channel's pushes
//! until this reply is written). Recovery is all or nothing: exactly the missed messages with
//! `recovered: true`, or `recovered: false` and the client resyncs.

use super::Asker;
use super::directory::with_log;
use super::outcome::{Effect, Finished, result};
use super::reads::present;
use crate::domain::channel::Channel;
use crate::error::AppError;
use crate::metrics::{METRICS, Metrics};
use crate::store::ChannelKey;
use makeroom_protocol::{ErrorCode, Position, Publication, Snapshot, Subscribe, SubscribeResult};

pub(super) async fn subscribe(
    asker: Asker,
    key: ChannelKey,
    channel: Channel,
    request: Subscribe,
    already: bool,
    count: usize,
) -> Finished {
    match start(&asker, &key, &channel, request, already, count).await {
        Ok((reply, last)) => match result(&reply) {
            Ok(reply) => Finished { outcome: Ok(reply), effect: Effect::Subscribed { key: key.shared(), last } },
            Err(err) => Finished { outcome: Err(err), effect: Effect::NotSubscribed { key: key.shared() } },
        },
        Err(err) => Finished { outcome: Err(err), effect: Effect::NotSubscribed { key: key.shared() } },
    }
}

async fn start(
    asker: &Asker,
    key: &ChannelKey,
    channel: &Channel,
    request: Subscribe,
    already: bool,
    count: usize,
) -> Result<(SubscribeResult, u64), AppError> {
    asker.check_read(channel).await?;
    let max = asker.services.limits.max_subscriptions;
    if !already && count > max {
        return Err(AppError::refused(ErrorCode::BadRequest, format!("at most {max} subscriptions per connection")));
    }
    if request.snapshot && !channel.is_state() {
        return Err(AppError::refused(
            ErrorCode::BadRequest,
            "snapshots are for state channels; chat channels (lobby, team rooms) use history",
        ));
    }
    let (hub, store) = (&asker.services.hub, asker.store());
    let local = hub.subscribe(key, asker.conn, asker.auth.member.clone(), asker.outbox.clone(), request.presence);
    if !already && let Err(err) = store.watch(key).await {
        hub.unsubscribe(key, asker.conn);
        return Err(err.into());
    }
    let started = read(asker, key, channel, &request, local).await;
    if started.is_err() && !already {
        hub.unsubscribe(key, asker.conn);
        if let Err(err) = store.unwatch(key).await {
            tracing::debug!(%key, error = %err, "could not stop watching a channel");
        }
    }
    started
}

async fn read(
    asker: &Asker,
    key: &ChannelKey,
    channel: &Channel,
    request: &Subscribe,
    local: Option<Vec<makeroom_protocol::Member>>,
) -> Result<(SubscribeResult, u64), AppError> {
    let presence = match local {
        Some(local) => Some(present(asker, key, local).await?),
        None => None,
    };
    let (mut epoch, mut last, recovered, mut publications) = read_since(asker, key, request.since.as_ref()).await?;
    let mut snapshot = None;
    if request.snapshot && recovered != Some(true) {
        let (tail_epoch, tail_last, tail, state) = read_snapshot(asker, key, channel).await?;
        (epoch, last, publications, snapshot) = (tail_epoch, tail_last, tail, Some(state));
    }
    let reply = SubscribeResult {
        channel: request.channel.clone(),
        epoch,
        offset: last,
        recovered,
        publications,
        presence,
        snapshot,
    };
    Ok((reply, last))
}

type Since = (String, u64, Option<bool>, Vec<Publication>);

/// What a subscription starts from: with `since`, exactly the missed messages or `recovered: false`;
/// without, just where the channel stands.
async fn read_since(asker: &Asker, key: &ChannelKey, since: Option<&Position>) -> Result<Since, AppError> {
    let store = asker.store();
    let Some(since) = since else {
        let slice = store.read_before(key, None, 0).await?;
        return Ok((slice.epoch.to_string(), slice.top, None, Vec::new()));
    };
    let max = asker.services.limits.max_recovery;
    let slice = store.read_after(key, since.offset, max.saturating_add(1)).await?;
    let last = slice.publications.last().map(|p| p.offset).unwrap_or(slice.top).max(slice.top);
    let complete = *slice.epoch == *since.epoch
        && since.offset <= slice.top
        && since.offset + 1 >= slice.first
        && slice.publications.len() as u64 == last - since.offset
        && (slice.publications.len() as u64) <= max;
    if complete {
        Metrics::count(&METRICS.recoveries_exact);
        Ok((slice.epoch.to_string(), last, Some(true), slice.publications))
    } else {
        Metrics::count(&METRICS.recoveries_failed);
        Ok((slice.epoch.to_string(), last, Some(false), Vec::new()))
    }
}

/// The channel's state now, and what the log holds after it (usually nothing): the state at
/// `snapshot.offset` plus the publications is exactly the channel up to the returned offset.
async fn read_snapshot(
    asker: &Asker,
    key: &ChannelKey,
    channel: &Channel,
) -> Result<(String, u64, Vec<Publication>, Snapshot), AppError> {
    let (event, store) = (asker.event(), asker.store());
    let log = event.log(store, channel).await?;
    let (offset, state) = with_log!(log, |log| log.snapshot()).map_err(|err| AppError::Unexpected(err.into()))?;
    let tail = store.read_after(key, offset, asker.services.limits.max_recovery).await?;
    let last = tail.publications.last().map(|p| p.offset).unwrap_or(offset).max(offset);
    Ok((tail.epoch.to_string(), last, tail.publications, Snapshot { offset, state }))
}
