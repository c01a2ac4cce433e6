//! Requests that only read: `history` (stored messages, oldest first) and `presence` (who is on a
//! channel now, across the cluster).

use super::outcome::{Finished, Handled, result};
use super::{Asker, resolve};
use crate::error::AppError;
use crate::store::ChannelKey;
use makeroom_protocol::{History, HistoryResult, Member, PresenceQuery, PresenceResult};

const DEFAULT_HISTORY: u32 = 50;
const MAX_HISTORY: u32 = 500;

pub(super) async fn history(asker: Asker, request: History) -> Finished {
    Finished::reply(read_history(&asker, request).await)
}

async fn read_history(asker: &Asker, request: History) -> Handled {
    let (key, channel) = resolve(&asker.auth, &request.channel)?;
    asker.check_read(&channel).await?;
    let limit = request.limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
    let slice = asker.store().read_before(&key, request.before, u64::from(limit)).await?;
    result(&HistoryResult {
        channel: request.channel,
        epoch: slice.epoch.to_string(),
        offset: slice.top,
        first: slice.first.min(slice.top),
        publications: slice.publications,
    })
}

pub(super) async fn presence(asker: Asker, request: PresenceQuery) -> Finished {
    Finished::reply(read_presence(&asker, request).await)
}

async fn read_presence(asker: &Asker, request: PresenceQuery) -> Handled {
    let (key, channel) = resolve(&asker.auth, &request.channel)?;
    asker.check_read(&channel).await?;
    let members = present(asker, &key, asker.services.hub.presence(&key)).await?;
    result(&PresenceResult { channel: request.channel, members })
}

/// Everyone present on `key`: across the cluster if the store knows, always including the people
/// connected here (whose joins may still be on their way to the store).
pub(super) async fn present(asker: &Asker, key: &ChannelKey, local: Vec<Member>) -> Result<Vec<Member>, AppError> {
    let Some(mut members) = asker.store().presence(key).await? else { return Ok(local) };
    for member in local {
        if !members.iter().any(|m| m.id == member.id) {
            members.push(member);
        }
    }
    members.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(members)
}
