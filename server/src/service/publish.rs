//! `publish`: append a chat message to a channel, durably, and answer with its offset.

use super::outcome::{Finished, Handled, result};
use super::{Asker, resolve, scoped_key};
use crate::domain::access;
use crate::domain::chat;
use crate::error::AppError;
use crate::store::AppendRequest;
use makeroom_protocol::{ErrorCode, Publish, PublishResult};

pub(super) async fn publish(asker: Asker, request: Publish) -> Finished {
    Finished::reply(append(&asker, request).await)
}

async fn append(asker: &Asker, request: Publish) -> Handled {
    let (key, channel) = resolve(&asker.auth, &request.channel)?;
    asker.check(&channel, access::may_publish).await?;
    let limit = asker.services.limits.max_data_bytes;
    if request.data.get().len() > limit {
        return Err(AppError::refused(ErrorCode::TooLarge, format!("`data` is limited to {limit} bytes")));
    }
    chat::check_message(request.data.get())?;
    let idempotency_key = scoped_key(&asker.auth.member.id, request.key)?;
    let appended = asker
        .store()
        .append(AppendRequest {
            key,
            data: request.data,
            from: asker.auth.sender(),
            idempotency_key,
            expected_offset: None,
            retain: channel.is_chat().then_some(asker.services.history_limit),
        })
        .await?;
    result(&PublishResult { epoch: appended.epoch.to_string(), offset: appended.offset, duplicate: appended.duplicate })
}
