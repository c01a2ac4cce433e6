//! `hello`: who a connection is. Checks the protocol version and the access token, finds the person
//! at their event (reading the roster's newest entries if they joined elsewhere a moment ago), and
//! answers with what the client needs to start: the event, their team, the server's clock and limits.

use super::outcome::{Effect, Finished, result};
use super::{Authenticated, Services};
use crate::auth::TokenKind;
use crate::clock::now_millis;
use crate::error::AppError;
use crate::hub::{ConnId, Outbox};
use makeroom_protocol::{ErrorCode, EventRef, Hello, HelloResult, Limits, PROTOCOL_VERSION, Role, close};
use std::sync::Arc;

use super::outcome::Close;

pub(super) async fn hello(services: Arc<Services>, conn: ConnId, hello: Hello) -> Finished {
    match authenticate(&services, conn, hello).await {
        Ok((reply, auth)) => match result(&reply) {
            Ok(reply) => Finished { outcome: Ok(reply), effect: Effect::Authenticated(Box::new(auth)) },
            Err(err) => Finished::reply(Err(err)),
        },
        Err((error, close)) => {
            Finished { outcome: Err(error), effect: close.map(Effect::Close).unwrap_or(Effect::None) }
        }
    }
}

/// A refusal, and the close it calls for when it is final for this connection.
type Refusal = (AppError, Option<Close>);

async fn authenticate(
    services: &Services,
    conn: ConnId,
    hello: Hello,
) -> Result<(HelloResult, Authenticated), Refusal> {
    let refused = |code, message: &str| (AppError::refused(code, message), None);
    if hello.version != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol version {PROTOCOL_VERSION}, not {}", hello.version);
        let close = Close::new(close::UNSUPPORTED_VERSION, "unsupported protocol version");
        return Err((AppError::refused(ErrorCode::UnsupportedVersion, message), Some(close)));
    }
    let claims = services.tokens.verify(&hello.token, TokenKind::Access).map_err(|err| (err.into(), None))?;
    if hello.event.as_ref().is_some_and(|event| *event != claims.evt) {
        return Err(refused(ErrorCode::Forbidden, "this token is for another event"));
    }
    let event = services
        .events
        .get(&claims.evt)
        .ok_or_else(|| refused(ErrorCode::Unauthorized, "the token's event does not exist"))?;
    event.ensure_known(services.store.as_ref(), &claims.sub).await.map_err(|err| (err, None))?;
    let (member, team) = {
        let roster = event.roster();
        match roster.participants.get(&claims.sub) {
            None => return Err(refused(ErrorCode::Unauthorized, "the token names nobody at this event")),
            Some(p) if p.removed => {
                let close = Close::new(close::REVOKED, "removed from the event");
                return Err((
                    AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"),
                    Some(close),
                ));
            }
            Some(p) => (p.member(), p.team.clone()),
        }
    };
    let limits = &services.limits;
    let reply = HelloResult {
        connection: conn,
        version: PROTOCOL_VERSION,
        participant: member.clone(),
        event: EventRef {
            id: event.info.id.clone(),
            name: event.name(),
            join_code: (claims.role != Role::Participant).then(|| event.join_code()),
        },
        team,
        server_time: now_millis(),
        token_expires_at: claims.exp as i64 * 1000,
        heartbeat_ms: services.heartbeat_interval.as_millis() as u64,
        limits: Limits {
            max_message_bytes: limits.max_message_bytes,
            max_data_bytes: limits.max_data_bytes,
            max_subscriptions: limits.max_subscriptions,
            requests_per_second: limits.requests_per_second,
            request_burst: limits.request_burst,
        },
    };
    Ok((reply, Authenticated { claims, event, member: Arc::new(member) }))
}

/// Lets an authenticated connection in: counted against its person's limit, and reachable by the hub
/// to be closed if they are removed. Done as the reply is written, so a connection that ends first
/// holds nothing.
pub(super) fn admit(services: &Services, auth: &Authenticated, conn: ConnId, outbox: &Outbox) -> Result<(), AppError> {
    if !services.connections_per_participant.acquire(&auth.claims.sub) {
        return Err(AppError::refused(
            ErrorCode::RateLimited,
            format!(
                "you already have {} connections open; close one first",
                services.limits.max_connections_per_participant
            ),
        ));
    }
    services.hub.register(&auth.claims.sub, conn, outbox.clone());
    Ok(())
}
