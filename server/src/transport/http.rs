//! HTTP: joining with a code, trading refresh tokens, display tokens, health, readiness, pages.
//! Handlers stay thin: parse, call the event directory or token service, answer.

use super::{AppState, pages, ws};
use crate::auth::{Claims, Subject, TokenKind};
use crate::domain::roster::{Language, Name, parse_skills};
use crate::error::AppError;
use crate::service::directory::EventEntry;
use actix_web::error::JsonPayloadError;
use actix_web::{App, HttpRequest, HttpResponse, web};
use makeroom_protocol::{ErrorCode, Member, Millis, Role, Sender};
use serde::{Deserialize, Serialize};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

type State = web::Data<Arc<AppState>>;

/// The HTTP server: actix-web's App for every request, except WebSocket upgrades, whose socket is
/// handed to `ws::serve` (which then owns it, with buffers of its own).
pub fn server(
    state: Arc<AppState>,
    listener: TcpListener,
    workers: usize,
    web_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<actix_server::Server> {
    use actix_http::{HttpService, KeepAlive};
    use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
    use actix_web::dev::AppConfig;

    let data = web::Data::new(state.clone());
    let json_limit = 16 * 1024;
    let mut builder = actix_server::Server::build()
        // Signals are handled by `Application::run_until_stopped`, which closes WebSockets first.
        .disable_signals()
        .shutdown_timeout(5);
    if workers > 0 {
        builder = builder.workers(workers);
    }
    let server = builder
        .listen("makeroom", listener, move || {
            let app = App::new()
                .app_data(data.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(json_limit)
                        .error_handler(move |err, _| body_refused(&err, json_limit).into()),
                )
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .route("/ws", web::get().to(not_an_upgrade))
                .route("/api/join/{code}", web::get().to(join_info))
                .route("/api/join/{code}/qr.svg", web::get().to(join_qr))
                .route("/api/join", web::post().to(join))
                .route("/api/token", web::post().to(refresh))
                .route("/api/events/{event}/displays", web::post().to(create_display))
                .route("/api/events/{event}/export", web::get().to(export))
                .route("/api/events/{event}/photos", web::post().to(upload_photo))
                .route("/api/events/{event}/photos/{photo}", web::get().to(photo))
                .route("/api/events/{event}/joining", web::get().to(joining))
                .route("/api/events/{event}/joining", web::post().to(set_joining))
                .route("/api/events/{event}/join-code", web::post().to(rotate_join_code))
                .configure(|config| pages::routes(config, web_dir.clone()));
            let upgrades = state.clone();
            HttpService::build()
                .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .upgrade(fn_service(move |(request, framed)| {
                    let state = upgrades.clone();
                    async move {
                        ws::serve(state, request, framed).await;
                        Ok::<(), std::convert::Infallible>(())
                    }
                }))
                .finish(map_config(
                    app.into_factory().map_err(|err: actix_web::Error| err.as_response_error().error_response()),
                    |_| AppConfig::default(),
                ))
                .tcp()
        })?
        .run();
    Ok(server)
}

/// A request body that is not the JSON an endpoint takes, said in words (actix-web's own messages
/// name its internals).
fn body_refused(err: &JsonPayloadError, limit: usize) -> AppError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AppError::refused(ErrorCode::TooLarge, format!("request bodies are limited to {} KiB", limit / 1024))
        }
        JsonPayloadError::ContentType => {
            AppError::refused(ErrorCode::BadRequest, "send the body as JSON, with `Content-Type: application/json`")
        }
        JsonPayloadError::Deserialize(err) => {
            AppError::refused(ErrorCode::BadRequest, format!("the body is not what this call takes: {err}"))
        }
        _ => AppError::refused(ErrorCode::BadRequest, "the body could not be read"),
    }
}

/// The address a request came from, whose budget it is charged to: its peer's, or, from a trusted
/// proxy, the one that proxy saw.
fn client_address(state: &AppState, request: &HttpRequest) -> Option<std::net::IpAddr> {
    let forwarded_for = request.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok());
    state.trusted_proxies.client(request.peer_addr().map(|peer| peer.ip()), forwarded_for)
}

/// The event with join code `code`, if joining it is open. The caller's address pays for a failed
/// lookup unless it finds one.
fn event_to_join(state: &AppState, request: &HttpRequest, code: &str) -> Result<Arc<EventEntry>, AppError> {
    let admission = state.api_limits.admit(client_address(state, request))?;
    let Some(event) = state.services.events.by_join_code(code) else {
        admission.failed();
        return Err(AppError::refused(ErrorCode::NotFound, "no event has this join code"));
    };
    admission.found();
    if !event.joining().open {
        return Err(AppError::refused(
            ErrorCode::Forbidden,
            "joining this event is closed for now; an organiser can open it again",
        ));
    }
    Ok(event)
}

/// The QR code of the join link for `code`, as SVG, for the projector and the console's poster (an
/// `<img>` sends no token, so none is asked). Only the code's shape is checked, not whether an event
/// has it: the picture says nothing the code does not, and the answer tells no guesser which codes
/// exist. It depends on the code alone, so it is cached; a new code is a new address.
async fn join_qr(state: State, code: web::Path<String>) -> Result<HttpResponse, AppError> {
    if !crate::ids::is_join_code(&code) {
        return Err(AppError::refused(ErrorCode::NotFound, "this is not a join code"));
    }
    let link = format!("{}/join?code={}", state.public_url.trim_end_matches('/'), code.as_str());
    let svg = super::join_qr::svg(&link).map_err(|err| AppError::Unexpected(err.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(svg))
}

/// `GET /ws` without the upgrade headers.
async fn not_an_upgrade() -> Result<HttpResponse, AppError> {
    Err(AppError::refused(ErrorCode::BadRequest, "this is Makeroom's WebSocket endpoint; open it as a WebSocket"))
}

/// Prometheus text format. Counters only: nothing about who is connected or what they said.
async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(crate::metrics::METRICS.render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the store takes reads and its writer runs, and the server is not shutting down.
async fn readyz(state: State) -> HttpResponse {
    if *state.shutdown.borrow() {
        return HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "shutting_down" }));
    }
    match state.services.store.check_ready().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(err) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "not_ready", "reason": err.to_string() })),
    }
}

#[derive(Serialize)]
struct TeamSummary {
    id: String,
    name: String,
    /// The title of the brief it formed around.
    brief: Option<String>,
    /// That title in Welsh, when the brief has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    brief_cy: Option<String>,
    members: usize,
    needs: Vec<String>,
    /// Needed skills nobody in the team has yet: where a newcomer would be useful.
    missing: Vec<String>,
}

#[derive(Serialize)]
struct JoinInfo {
    event: JoinEvent,
    teams: Vec<TeamSummary>,
}

/// The event as the join page shows it: its name in each language it has, and the language it is run in.
#[derive(Serialize)]
struct JoinEvent {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_cy: Option<String>,
    language: Language,
}

#[derive(Serialize)]
struct EventSummary {
    id: String,
    name: String,
}

/// What the join page shows before someone joins: the event's name and its teams.
async fn join_info(state: State, request: HttpRequest, code: web::Path<String>) -> Result<HttpResponse, AppError> {
    let event = event_to_join(&state, &request, &code)?;
    let (teams, details) = {
        let roster = event.roster();
        let briefs = event.briefs.state();
        let teams = roster
            .teams
            .values()
            .filter(|team| !team.archived)
            .map(|team| {
                let brief = team.brief.as_ref().and_then(|id| briefs.briefs.get(id));
                TeamSummary {
                    id: team.id.clone(),
                    name: team.name.as_str().to_string(),
                    brief: brief.map(|b| b.title.clone()),
                    brief_cy: brief.and_then(|b| b.title_cy.clone()),
                    members: team.members.len(),
                    needs: team.needs.clone(),
                    missing: team.missing.clone(),
                }
            })
            .collect();
        (teams, roster.event.clone())
    };
    let event = JoinEvent {
        id: event.info.id.clone(),
        name: event.name(),
        name_cy: details.name_cy.map(String::from),
        language: details.language,
    };
    Ok(HttpResponse::Ok().json(JoinInfo { event, teams }))
}

#[derive(Deserialize)]
struct JoinRequest {
    code: String,
    name: String,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    team: Option<String>,
}

#[derive(Serialize)]
struct Credentials {
    token: String,
    token_expires_at: Millis,
    refresh_token: String,
    refresh_expires_at: Millis,
    participant: Member,
    event: EventSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
}

fn credentials(
    state: &AppState,
    event_id: &str,
    event_name: &str,
    who: Member,
    team: Option<String>,
) -> Result<Credentials, AppError> {
    let subject = Subject { participant: &who.id, event: event_id, role: who.role, name: &who.name };
    let (token, token_expires_at) = state.services.tokens.issue(&subject, TokenKind::Access)?;
    let (refresh_token, refresh_expires_at) = state.services.tokens.issue(&subject, TokenKind::Refresh)?;
    Ok(Credentials {
        token,
        token_expires_at,
        refresh_token,
        refresh_expires_at,
        participant: who,
        event: EventSummary { id: event_id.to_string(), name: event_name.to_string() },
        team,
    })
}

/// A participant joins with the event's code, a name and skills, and gets their tokens. No account.
async fn join(state: State, request: HttpRequest, body: web::Json<JoinRequest>) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let event = event_to_join(&state, &request, &body.code)?;
    let name = Name::try_from(body.name)?;
    let skills = parse_skills(body.skills)?;
    state.api_limits.join(&event.info.id)?;
    let participant =
        state.services.events.add_participant(&event, None, name, Role::Participant, skills, body.team).await?;
    let team = participant.team.clone();
    let credentials = credentials(&state, &event.info.id, &event.name(), participant.member(), team)?;
    Ok(HttpResponse::Ok().json(credentials))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize)]
struct AccessToken {
    token: String,
    token_expires_at: Millis,
    participant: Member,
    event: EventSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
}

/// Trades a refresh token for a fresh access token, if its holder is still part of the event.
async fn refresh(
    state: State,
    request: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    let admission = state.api_limits.admit(client_address(&state, &request))?;
    let claims = match state.services.tokens.verify(&body.refresh_token, TokenKind::Refresh) {
        Ok(claims) => {
            admission.found();
            claims
        }
        Err(err) => {
            admission.failed();
            return Err(err.into());
        }
    };
    let event = state
        .services
        .events
        .get(&claims.evt)
        .ok_or_else(|| AppError::refused(ErrorCode::Unauthorized, "the token's event does not exist"))?;
    event.ensure_known(state.services.store.as_ref(), &claims.sub).await?;
    let (member, team) = {
        let roster = event.roster();
        let participant = roster
            .active(&claims.sub)
            .ok_or_else(|| AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"))?;
        (participant.member(), participant.team.clone())
    };
    let subject = Subject { participant: &member.id, event: &event.info.id, role: member.role, name: &member.name };
    let (token, token_expires_at) = state.services.tokens.issue(&subject, TokenKind::Access)?;
    Ok(HttpResponse::Ok().json(AccessToken {
        token,
        token_expires_at,
        participant: member,
        event: EventSummary { id: event.info.id.clone(), name: event.name() },
        team,
    }))
}

/// The caller's access token from `Authorization: Bearer ...`.
fn bearer(state: &AppState, request: &HttpRequest) -> Result<Claims, AppError> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    Ok(state.services.tokens.verify(header.trim(), TokenKind::Access)?)
}

#[derive(Deserialize)]
struct DisplayRequest {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
struct DisplayCredentials {
    link: String,
    refresh_token: String,
    refresh_expires_at: Millis,
    display: Member,
}

/// An organiser adds a projector display to their event and gets the link to open on it.
async fn create_display(
    state: State,
    request: HttpRequest,
    event_id: web::Path<String>,
    body: web::Json<DisplayRequest>,
) -> Result<HttpResponse, AppError> {
    let claims = bearer(&state, &request)?;
    if claims.evt != *event_id {
        return Err(AppError::refused(ErrorCode::Forbidden, "your token is for another event"));
    }
    if claims.role != Role::Organiser {
        return Err(AppError::refused(ErrorCode::Forbidden, "only organisers add displays"));
    }
    let event =
        state.services.events.get(&event_id).ok_or_else(|| AppError::refused(ErrorCode::NotFound, "no such event"))?;
    if event.roster().active(&claims.sub).is_none() {
        return Err(AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"));
    }
    let name = Name::try_from(body.into_inner().name.unwrap_or_else(|| "Display".into()))?;
    let by = Sender { id: claims.sub.clone(), name: claims.name.clone(), role: claims.role };
    let display = state.services.events.add_participant(&event, Some(&by), name, Role::Display, vec![], None).await?;
    let member = display.member();
    let subject = Subject { participant: &member.id, event: &event.info.id, role: Role::Display, name: &member.name };
    let (refresh_token, refresh_expires_at) = state.services.tokens.issue(&subject, TokenKind::Refresh)?;
    Ok(HttpResponse::Ok().json(DisplayCredentials {
        link: format!("{}/display#refresh={refresh_token}&code={}", state.public_url, event.join_code()),
        refresh_token,
        refresh_expires_at,
        display: member,
    }))
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
}

/// Everything about the event, for organisers: JSON (default), `?format=markdown` or `?format=html`.
async fn export(
    state: State,
    request: HttpRequest,
    event_id: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let claims = bearer(&state, &request)?;
    if claims.evt != *event_id {
        return Err(AppError::refused(ErrorCode::Forbidden, "your token is for another event"));
    }
    if claims.role != Role::Organiser {
        return Err(AppError::refused(ErrorCode::Forbidden, "only organisers export the event"));
    }
    let event =
        state.services.events.get(&event_id).ok_or_else(|| AppError::refused(ErrorCode::NotFound, "no such event"))?;
    let exported =
        crate::service::export::export_json(state.services.store.as_ref(), &event, crate::clock::now_millis()).await?;
    let file = format!("makeroom-{}", event.info.id);
    // The single-file archives show photos from this server; the bundle's, from beside them.
    let event_path = format!("{}/api/events/{}", state.public_url.trim_end_matches('/'), event.info.id);
    let photo_link = |id: &str| Some(format!("{event_path}/photos/{id}"));
    let (content_type, body, extension): (_, Vec<u8>, _) = match query.format.as_deref().unwrap_or("json") {
        "json" => ("application/json", exported.to_string().into_bytes(), "json"),
        "markdown" | "md" => (
            "text/markdown; charset=utf-8",
            crate::service::export::to_markdown(&exported, &photo_link).into_bytes(),
            "md",
        ),
        "html" => {
            ("text/html; charset=utf-8", crate::service::export::to_html(&exported, &photo_link).into_bytes(), "html")
        }
        "bundle" | "zip" => {
            ("application/zip", crate::service::export::bundle(state.services.store.photos(), &exported).await?, "zip")
        }
        other => {
            return Err(AppError::refused(
                ErrorCode::BadRequest,
                format!("unknown format `{other}`: json, markdown, html or bundle"),
            ));
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{file}.{extension}\"")))
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

/// The event named in the path, for a caller whose access token is for it, in one of `roles`.
fn event_for(
    state: &AppState,
    request: &HttpRequest,
    event_id: &str,
    roles: &[Role],
    what: &str,
) -> Result<(Arc<EventEntry>, Claims), AppError> {
    let claims = bearer(state, request)?;
    if claims.evt != event_id {
        return Err(AppError::refused(ErrorCode::Forbidden, "your token is for another event"));
    }
    if !roles.contains(&claims.role) {
        return Err(AppError::refused(ErrorCode::Forbidden, format!("only organisers {what}")));
    }
    let event =
        state.services.events.get(event_id).ok_or_else(|| AppError::refused(ErrorCode::NotFound, "no such event"))?;
    if event.roster().active(&claims.sub).is_none() {
        return Err(AppError::refused(ErrorCode::Forbidden, "you are no longer part of this event"));
    }
    Ok((event, claims))
}

fn sender(claims: &Claims) -> Sender {
    Sender { id: claims.sub.clone(), name: claims.name.clone(), role: claims.role }
}

/// The join code and whether joining is open, for organisers and displays (which show the code).
async fn joining(state: State, request: HttpRequest, event_id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let roles = [Role::Organiser, Role::Display];
    let (event, _) = event_for(&state, &request, &event_id, &roles, "and displays see the join code")?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(event.joining()))
}

#[derive(Deserialize)]
struct SetJoining {
    open: bool,
}

/// An organiser opens or closes joining with the code.
async fn set_joining(
    state: State,
    request: HttpRequest,
    event_id: web::Path<String>,
    body: web::Json<SetJoining>,
) -> Result<HttpResponse, AppError> {
    let (event, claims) = event_for(&state, &request, &event_id, &[Role::Organiser], "open and close joining")?;
    let joining = state.services.events.set_joining_open(&event, &sender(&claims), body.open).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(joining))
}

/// An organiser gives the event a new join code; the old one finds nothing from then on.
async fn rotate_join_code(
    state: State,
    request: HttpRequest,
    event_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (event, claims) = event_for(&state, &request, &event_id, &[Role::Organiser], "change the join code")?;
    let joining = state.services.events.rotate_join_code(&event, &sender(&claims)).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(joining))
}

#[derive(Deserialize)]
struct PhotoQuery {
    /// The team the photo is for: organisers name one; a participant's is their own.
    #[serde(default)]
    team: Option<String>,
}

/// Reads a request body of at most `limit` bytes. A larger one is refused, but read on (and
/// dropped) up to `DRAINED_AT_MOST`, so the sender has sent it all and reads the refusal: a browser
/// whose upload is cut short reports a network failure, not the `too_large` it was sent.
async fn body_of_at_most(request: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, AppError> {
    use futures_util::StreamExt;
    const DRAINED_AT_MOST: usize = 16 * 1024 * 1024;
    let too_large =
        || AppError::refused(ErrorCode::TooLarge, format!("a photo holds at most {} MiB", limit / (1024 * 1024)));
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > DRAINED_AT_MOST) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::refused(ErrorCode::BadRequest, "the photo could not be read"))?;
        received += chunk.len();
        if received > DRAINED_AT_MOST {
            return Err(too_large());
        }
        if received <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// A participant (for their team) or an organiser (for the team they name) uploads a photo of what
/// the team made. Its bytes are stored first, then its record on the event's `outputs` log; if the
/// record is refused (the team has too many, say) the bytes are forgotten again.
async fn upload_photo(
    state: State,
    request: HttpRequest,
    event_id: web::Path<String>,
    query: web::Query<PhotoQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    use crate::domain::outputs::{MAX_PHOTO_BYTES, OutputsCommand, photo_type};
    use crate::store::photos::StoredPhoto;
    let roles = [Role::Organiser, Role::Participant];
    let (event, claims) = event_for(&state, &request, &event_id, &roles, "and teams upload photos")?;
    state.api_limits.photo_upload(&claims.sub)?;
    let bytes = body_of_at_most(&request, payload, MAX_PHOTO_BYTES).await?;
    let content_type = photo_type(&bytes)?;
    let id = crate::ids::new_photo_id();
    let size = bytes.len() as u64;
    let services = &state.services;
    let photo = StoredPhoto { content_type: content_type.to_string(), bytes };
    services.store.photos().put(&event.info.id, &id, photo).await?;
    let command = OutputsCommand::AddPhoto {
        id: id.clone(),
        team: query.into_inner().team,
        content_type: content_type.to_string(),
        bytes: size,
    };
    let recorded = crate::store::within_request_budget(event.command(
        services.store.as_ref(),
        &event.outputs,
        &sender(&claims),
        command,
        None,
    ))
    .await;
    if let Err(err) = recorded {
        if let Err(forgetting) = services.store.photos().remove(&event.info.id, &id).await {
            tracing::warn!(error = %forgetting, "forgetting a photo whose record was refused failed");
        }
        return Err(err);
    }
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(serde_json::json!({ "photo": id, "content_type": content_type, "bytes": size })))
}

/// A photo, for an `<img>` (which sends no token): the photo's random id is what authorises it, like
/// a capability: whoever was shown the id (everyone at the event, and whoever holds its export) may
/// see the picture. It never changes, so it is cached for a year; `nosniff` and a CSP that allows
/// nothing keep a browser from taking it for anything but an image.
async fn photo(state: State, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (event_id, id) = path.into_inner();
    let not_found = || AppError::refused(ErrorCode::NotFound, "no such photo");
    if !crate::ids::is_photo_id(&id) {
        return Err(not_found());
    }
    let event = state.services.events.get(&event_id).ok_or_else(not_found)?;
    let photo = crate::store::within_request_budget(state.services.store.photos().get(&event.info.id, &id))
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(photo.content_type)
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("content-security-policy", "default-src 'none'; sandbox"))
        .insert_header(("cross-origin-resource-policy", "same-origin"))
        .body(photo.bytes))
}
