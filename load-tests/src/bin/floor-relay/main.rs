//! `floor-relay`: the floor of every `makeroom-load compare` run. A minimal WebSocket relay on the
//! same crates as the server (actix-web 4, actix-http, tokio), written the fast way: the handshake
//! from actix-http, each message framed once as shared `Bytes`, a bounded queue per connection,
//! and a response body that hands the dispatcher everything queued as one chunk (no task hop per
//! frame). It stores nothing, so what Makeroom reaches beside it is what storing costs over what
//! the stack itself allows. It must never be deployed: it checks no token and keeps no history.
//!
//! It prints `floor relay listening on 127.0.0.1:PORT` once bound, as the generator expects.

mod frame;
mod hub;
mod outbox;

use actix_codec::Decoder;
use actix_http::ws::{self, Codec, Frame};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context, Result};
use bytes::BytesMut;
use clap::Parser;
use futures_util::StreamExt;
use hub::Hub;
use outbox::{Outbox, OutboxBody};
use std::rc::Rc;

/// The largest frame a client may send (Makeroom's default).
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Close codes (RFC 6455): normal, protocol error, too large.
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_PROTOCOL: u16 = 1002;

#[derive(Debug, Parser)]
#[command(
    name = "floor-relay",
    about = "A minimal WebSocket relay: the floor of makeroom-load compare (stores nothing)"
)]
struct Cli {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    actix_web::rt::System::new().block_on(serve(cli))
}

async fn serve(cli: Cli) -> Result<()> {
    // One worker: the rooms live on its thread, and the relay is pinned to one core like the server.
    let server = HttpServer::new(|| {
        App::new().app_data(web::Data::new(Rc::new(Hub::default()))).route("/ws", web::get().to(open))
    })
    .workers(1)
    .backlog(4096)
    .max_connections(100_000)
    .bind(&cli.bind)
    .with_context(|| format!("binding {}", cli.bind))?;
    let addr = server.addrs().first().copied().context("bound to no address")?;
    println!("floor relay listening on {addr}");
    server.run().await.context("the relay stopped")
}

/// Upgrades `GET /ws` and starts reading the connection; its writes are the response body.
async fn open(
    req: HttpRequest,
    payload: web::Payload,
    hub: web::Data<Rc<Hub>>,
) -> Result<HttpResponse<OutboxBody>, actix_web::Error> {
    let mut response = ws::handshake(req.head()).map_err(|err| actix_web::error::ErrorBadRequest(err.to_string()))?;
    let outbox = Outbox::default();
    let body = outbox.body();
    let hub = Rc::clone(&hub);
    actix_web::rt::spawn(read(hub, outbox, payload));
    Ok(HttpResponse::from(response.message_body(body)?))
}

/// Reads and answers one connection's frames until it closes, then takes it out of every room.
async fn read(hub: Rc<Hub>, outbox: Outbox, mut payload: web::Payload) {
    let mut connection = hub.connect(outbox.clone());
    let mut codec = Codec::new().max_size(MAX_FRAME_BYTES);
    let mut buffer = BytesMut::new();
    'reading: while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.extend_from_slice(&chunk);
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(Frame::Text(text))) => hub.request(&mut connection, &text),
                Ok(Some(Frame::Ping(data))) => {
                    outbox.push(frame::pong(&data));
                }
                Ok(Some(Frame::Close(_))) => {
                    outbox.close(Some(frame::close(CLOSE_NORMAL)));
                    break 'reading;
                }
                // Pongs need nothing; binary and continuation frames are not Makeroom's.
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    outbox.close(Some(frame::close(CLOSE_PROTOCOL)));
                    break 'reading;
                }
            }
            if outbox.is_closed() {
                break 'reading;
            }
        }
    }
    hub.disconnect(&connection);
    outbox.close(None);
    if outbox.overflowed() {
        eprintln!("floor relay: connection {} closed for falling behind", connection.number);
    }
}
