//! Populating a Makeroom event before a run: teams created by the organiser over the WebSocket,
//! participants joined over HTTP (a few keep-alive connections in parallel), tokens kept in memory.

use crate::http::HttpClient;
use crate::servers::Makeroom;
use crate::wire::{self, Conn, Proto};
use anyhow::{Context, Result, bail};
use makeroom_protocol::roster::RosterCommand;
use makeroom_protocol::{DomainCommand, HelloResult};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// HTTP connections used in parallel for joins.
const JOIN_CONNECTIONS: usize = 8;

#[derive(Debug, Clone)]
pub struct Participant {
    pub token: String,
    pub id: String,
    /// Index into [`Population::teams`].
    pub team: usize,
}

#[derive(Debug, Clone)]
pub struct Population {
    /// Team ids, in creation order.
    pub teams: Vec<String>,
    pub participants: Vec<Participant>,
    pub organiser_token: String,
}

/// A fresh access token for the organiser (from the refresh token the server printed).
pub async fn organiser_token(server: &Makeroom) -> Result<String> {
    organiser_token_via(server.port, &server.organiser_refresh).await
}

/// Creates `teams` teams named `load-N` and joins `participants` participants, spread evenly.
pub async fn populate(server: &Makeroom, teams: usize, participants: usize) -> Result<Population> {
    let organiser = organiser_token(server).await?;
    let mut conn = Conn::open(Proto::Makeroom, server.port, Ipv4Addr::LOCALHOST).await?;
    conn.call(1, wire::hello(1, &organiser), |_| {}).await?;
    // Send every create at once, then wait for the last reply (replies come in order).
    let teams = teams.max(1);
    for i in 0..teams {
        let create = DomainCommand::Roster(RosterCommand::CreateTeam {
            name: format!("load-{i}"),
            brief: None,
            needs: Vec::new(),
        });
        let id = 2 + i as u64;
        let frame = wire::command(id, "roster", serde_json::to_string(&create)?, None)?;
        if i + 1 < teams {
            conn.feed(frame).await?;
        } else {
            conn.flush().await?;
            conn.call(id, frame, |_| {}).await?;
        }
    }
    conn.close().await;
    let mut http = HttpClient::new(server.port);
    let (status, body) = http.request("GET", &format!("/api/join/{}", server.join_code), None, None).await?;
    if status != 200 {
        bail!("GET /api/join: {status} {body}");
    }
    let mut named: Vec<(usize, String)> = body["teams"]
        .as_array()
        .context("no teams in /api/join answer")?
        .iter()
        .filter_map(|team| {
            let index = team["name"].as_str()?.strip_prefix("load-")?.parse().ok()?;
            Some((index, team["id"].as_str()?.to_string()))
        })
        .collect();
    named.sort();
    let team_ids: Vec<String> = named.into_iter().map(|(_, id)| id).collect();
    if team_ids.len() != teams {
        bail!("created {teams} teams but the event lists {}", team_ids.len());
    }
    let participants = join_all(server, &team_ids, participants).await?;
    Ok(Population { teams: team_ids, participants, organiser_token: organiser })
}

/// A fresh access token for the organiser, from the refresh token, through any port (an instance or
/// the proxy in front of several).
pub async fn organiser_token_via(port: u16, organiser_refresh: &str) -> Result<String> {
    let mut http = HttpClient::new(port);
    let (status, body) =
        http.request("POST", "/api/token", None, Some(&json!({"refresh_token": organiser_refresh}))).await?;
    if status != 200 {
        bail!("POST /api/token: {status} {body}");
    }
    body["token"].as_str().map(str::to_string).context("no token in /api/token answer")
}

/// Adds `count` projector displays to the organiser's event over HTTP; returns their access tokens.
pub async fn add_displays(port: u16, organiser: &str, count: usize) -> Result<Vec<String>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut probe = Conn::open(Proto::Makeroom, port, Ipv4Addr::LOCALHOST).await?;
    let hello: HelloResult = serde_json::from_str(probe.call(1, wire::hello(1, organiser), |_| {}).await?.get())?;
    probe.close().await;
    let mut http = HttpClient::new(port);
    let mut tokens = Vec::new();
    for i in 0..count {
        let (status, body) = http
            .request(
                "POST",
                &format!("/api/events/{}/displays", hello.event.id),
                Some(organiser),
                Some(&json!({"name": format!("Display {i}")})),
            )
            .await?;
        if status != 200 {
            bail!("adding a display: {status} {body}");
        }
        let refresh = body["refresh_token"].as_str().context("no refresh token")?;
        let (status, body) = http.request("POST", "/api/token", None, Some(&json!({"refresh_token": refresh}))).await?;
        if status != 200 {
            bail!("display token: {status} {body}");
        }
        tokens.push(body["token"].as_str().context("no token")?.to_string());
    }
    Ok(tokens)
}

async fn join_all(server: &Makeroom, teams: &[String], count: usize) -> Result<Vec<Participant>> {
    let mut workers = Vec::new();
    for worker in 0..JOIN_CONNECTIONS {
        let port = server.port;
        let code = server.join_code.clone();
        let teams = teams.to_vec();
        workers.push(tokio::spawn(async move {
            let mut http = HttpClient::new(port);
            let mut joined = Vec::new();
            for i in (worker..count).step_by(JOIN_CONNECTIONS) {
                let team = i % teams.len();
                let body =
                    json!({"code": code, "name": format!("load {i}"), "skills": ["testing"], "team": teams[team]});
                let mut answer = (0, Value::Null);
                // `conflict` ("the roster is changing too fast") is retryable.
                for _ in 0..20 {
                    answer = http.request("POST", "/api/join", None, Some(&body)).await?;
                    if answer.0 != 409 && answer.0 != 503 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                let (status, body) = answer;
                if status != 200 {
                    bail!("POST /api/join: {status} {body}");
                }
                let token = body["token"].as_str().context("no token")?.to_string();
                let id = body["participant"]["id"].as_str().unwrap_or("").to_string();
                joined.push((i, Participant { token, id, team }));
            }
            anyhow::Ok(joined)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(worker.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, p)| p).collect())
}
