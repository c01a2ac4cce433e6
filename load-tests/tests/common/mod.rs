//! What the integration tests share: the server binary they start and a runtime like the
//! generator's (one thread, a `LocalSet`).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

/// `MAKEROOM_BIN`, or the debug binary that the workspace test run builds.
pub fn makeroom_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("MAKEROOM_BIN") {
        return bin.into();
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/makeroom");
    assert!(
        bin.exists(),
        "no server binary at {}: run `cargo build -p makeroom-server` or set MAKEROOM_BIN",
        bin.display()
    );
    bin
}

/// Options that start the real server and the floor relay this package builds.
pub fn server_options() -> makeroom_load::ServerOptions {
    makeroom_load::ServerOptions {
        makeroom: makeroom_load::servers::MakeroomOptions::new(makeroom_bin()),
        peer_dir: PathBuf::from("peer"),
        floor_bin: PathBuf::from(env!("CARGO_BIN_EXE_floor-relay")),
        cpus: None,
    }
}

/// Runs `future` on a current-thread runtime inside a `LocalSet`, as `makeroom-load` does.
pub fn local<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, future)
}

/// A `rooms` run was exact: something was published and acknowledged, and every member of each room
/// (`members` to a room) got every acknowledged message once, in order, and nothing else.
pub fn assert_every_member_got_everything_once(report: &makeroom_load::report::Report, members: u64) {
    println!("{}", report.table());
    let t = &report.totals;
    assert!(t.acked > 0, "something was published: {t:?}");
    assert_eq!(t.publish_errors, 0, "{:?}", report.extra);
    assert_eq!(t.expected, t.acked * members, "every room has {members} members");
    assert_eq!((t.lost, t.duplicated, t.reordered, t.foreign), (0, 0, 0, 0));
    assert_eq!(t.delivered, t.expected);
    assert_eq!(report.extra["offset_gaps"], 0);
}
