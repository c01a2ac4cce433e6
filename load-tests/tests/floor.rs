//! The floor relay against the generator's own clients: the `rooms` workload delivers every message
//! exactly once, in order, as on Makeroom; and on the wire, the reply to each of a connection's
//! pipelined publishes comes before that connection's own `pub` of it (PROTOCOL.md, `publish`).

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_every_member_got_everything_once, local, server_options};
use makeroom_load::scenarios::rooms;
use makeroom_load::wire::{self, Conn, Incoming, Proto};
use makeroom_load::{Target, start_targets};
use std::net::Ipv4Addr;
use std::time::Duration;

#[test]
fn rooms_on_the_floor_relay_delivers_every_message_exactly_once_in_order() {
    local(async {
        let targets = start_targets(Target::Floor, 1, &server_options()).await.unwrap();
        assert_eq!(targets.name(), "floor");
        let config = rooms::RoomsConfig {
            connections: 60,
            rooms: 6,
            rate: 200.0,
            duration: Duration::from_secs(2),
            warmup: Duration::ZERO,
            sources: 1,
            ..Default::default()
        };
        let report = rooms::run(&targets, None, &config).await.unwrap();
        assert_every_member_got_everything_once(&report, 10);
    });
}

#[test]
fn each_publish_is_answered_before_its_publisher_hears_it() {
    local(async {
        let targets = start_targets(Target::Floor, 1, &server_options()).await.unwrap();
        let port = targets.ports()[0];
        let mut listener = Conn::open(Proto::Makeroom, port, Ipv4Addr::LOCALHOST).await.unwrap();
        let mut publisher = Conn::open(Proto::Makeroom, port, Ipv4Addr::LOCALHOST).await.unwrap();
        for conn in [&mut listener, &mut publisher] {
            conn.call(1, wire::hello(1, ""), |_| {}).await.unwrap();
            conn.call(2, wire::subscribe(Proto::Makeroom, 2, "room-0", None, false), |_| {}).await.unwrap();
        }
        const PUBLISHES: u64 = 64;
        for seq in 1..=PUBLISHES {
            let frame = wire::publish(Proto::Makeroom, 100 + seq, "room-0", wire::payload(0, seq, seq), None).unwrap();
            publisher.feed(frame).await.unwrap();
        }
        publisher.flush().await.unwrap();
        // The publisher: reply n, then (at once or later) pub n; never pub n before reply n.
        let (mut replies, mut pubs) = (0u64, 0u64);
        while pubs < PUBLISHES {
            match tokio::time::timeout(Duration::from_secs(10), publisher.next()).await.unwrap().unwrap() {
                Some(Incoming::Reply(reply)) => {
                    replies += 1;
                    assert_eq!(reply.id, 100 + replies, "replies in request order");
                    assert!(reply.result.is_ok());
                }
                Some(Incoming::Pub(text)) => {
                    pubs += 1;
                    let marker = wire::marker(&text).unwrap();
                    assert_eq!(marker.seq, pubs, "pubs in order");
                    assert!(replies >= pubs, "pub {pubs} came before its reply");
                    assert_eq!(wire::offset(&text), Some(pubs));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(replies, PUBLISHES);
        // The listener hears every one, once, in order.
        for seq in 1..=PUBLISHES {
            match tokio::time::timeout(Duration::from_secs(10), listener.next()).await.unwrap().unwrap() {
                Some(Incoming::Pub(text)) => assert_eq!(wire::marker(&text).unwrap().seq, seq),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}
