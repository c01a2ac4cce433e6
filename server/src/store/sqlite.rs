//! The embedded store: channel logs in one SQLite file, for a single instance with no other service.
//!
//! One writer thread owns the write connection. Appends are committed in groups (everything waiting
//! at that moment, and under load what arrives within `COMMIT_INTERVAL`): a group is one record of
//! the commit log (`commit_log.rs`), written and synced before anyone hears back. That costs one
//! small write and one sync, where filing each message into its channel's place in `messages` would
//! rewrite a page of every channel touched (and of the key index) on every commit. What is committed
//! but not filed is held in memory, per channel (`Tails`), so readers see it at once; every
//! `FILE_EVERY` the writer files it into `messages`, in small steps between commit groups (a page per
//! channel for many messages), and deletes the log generation that held it once it is filed durably.
//! After a crash, what the log holds is filed when the store opens, so whatever was acknowledged is
//! there. Committed groups go to the sink in offset order, off this thread. Reads use their own
//! connections on a fixed pool of threads; WAL mode lets them run beside the writer.

use super::commit_log::{self, CommitLog};
use super::handoff::{Handoff, Waited};
use super::{
    AppendRequest, Appended, ChannelKey, ChannelSlice, Committed, FanOut, PublicationSink, Store, StoreError,
    StoreFuture,
};
use crate::clock::now_millis;
use crate::metrics::METRICS;
use anyhow::Context;
use makeroom_protocol::{Publication, Sender};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Threads reading history, each with its own connection.
const READER_THREADS: usize = 4;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Appends committed in one transaction at most; bounds the latency one group adds.
const MAX_GROUP: usize = 512;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The shortest time between the starts of two commits. An append to an idle store commits at once;
/// under load each commit waits for the rest of this interval to gather more appends.
const COMMIT_INTERVAL: Duration = Duration::from_millis(2);

/// How often held appends are filed into `messages` (sooner if this many are held). A round files
/// each channel's new messages together, so the longer the round's span the more messages share
/// each page written (and the channel's trim and position update); memory and what a crash leaves
/// to file at the next open bound it.
const FILE_EVERY: Duration = Duration::from_millis(1000);
const FILE_AT: usize = 16384;
/// Messages filed in one step of a round: the writer commits waiting appends between steps, so a
/// round never holds them up for long.
const FILE_STEP: usize = 128;

/// The WAL is started again from its beginning once it grows past this (the checkpoint thread
/// copies it back, but under constant writes it never finds a moment to restart it by itself).
const WAL_RESTART_BYTES: u64 = 32 * 1024 * 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    top INTEGER NOT NULL,
    first INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    channel_id INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    sender TEXT NOT NULL,
    data TEXT NOT NULL,
    idem_key TEXT,
    PRIMARY KEY (channel_id, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_idem_key ON messages (channel_id, idem_key)
    WHERE idem_key IS NOT NULL;
";

struct WriteJob {
    request: AppendRequest,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
    queued: Instant,
}

/// One append as the commit log keeps it (a group's appends are one JSON array).
#[derive(Serialize, Deserialize)]
struct PendingAppend {
    channel: i64,
    offset: u64,
    ts: i64,
    /// The channel's `first` after this append (retention).
    first: u64,
    from: Sender,
    data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// What the commit log keeps of one append, written straight from the append's request as its
/// group is staged; it serializes exactly as a `PendingAppend`, which reads it back.
#[derive(Serialize)]
struct PendingAppendRef<'a> {
    channel: i64,
    offset: u64,
    ts: i64,
    first: u64,
    from: &'a Sender,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

/// A committed message not yet filed into `messages`; its publication is the one pushed live.
struct Held {
    publication: Arc<Publication>,
    key: Option<String>,
}

/// Where a channel stands, and what of it is committed but not filed yet.
struct Tail {
    id: i64,
    top: u64,
    first: u64,
    /// The newest offset filed into `messages`.
    filed: u64,
    /// Shared with a filing round under way, which files them without copying them.
    held: VecDeque<Arc<Held>>,
}

impl Tail {
    fn held_key(&self, key: &str) -> Option<&Held> {
        self.held.iter().find(|held| held.key.as_deref() == Some(key)).map(Arc::as_ref)
    }
}

/// Every channel touched since the store opened, shared by the writer (which alone changes it,
/// after each commit) and the readers.
type Tails = Arc<Mutex<HashMap<Arc<str>, Tail>>>;

fn lock(tails: &Tails) -> MutexGuard<'_, HashMap<Arc<str>, Tail>> {
    tails.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct SqliteStore {
    /// Unbounded, yet bounded in practice: a connection has one request in flight at a time.
    writer: Arc<Handoff<WriteJob>>,
    /// Set when the writer thread has ended (it only ends by a panic while the store is open).
    writer_stopped: Arc<AtomicBool>,
    /// Dropped with the store, which ends the checkpoint thread.
    _checkpoint_stop: std::sync::mpsc::Sender<()>,
    /// Read jobs for the reader threads, each with its own connection (WAL lets them read while the
    /// writer commits). A fixed pool: reads do not spill onto tokio's blocking pool.
    readers: std::sync::mpsc::Sender<ReadJob>,
    tails: Tails,
    epoch: Arc<str>,
    /// Photos' bytes, in a file of their own beside the logs (`photos.sqlite3`).
    photos: super::photos::SqlitePhotos,
}

pub(super) fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir/makeroom.sqlite3`, files what the commit log holds, and
    /// starts its writer thread.
    pub fn open(dir: &Path, sink: Arc<dyn PublicationSink>) -> anyhow::Result<Self> {
        let path: PathBuf = dir.join("makeroom.sqlite3");
        let mut writer_conn = open_connection(&path)?;
        writer_conn.execute_batch(SCHEMA).context("creating the schema")?;
        // The epoch names this log's lifetime: a new file (data lost or replaced) gets a new one, so
        // clients holding offsets from the old file resync instead of trusting them.
        let epoch: String = match writer_conn
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| row.get(0))
            .optional()?
        {
            Some(epoch) => epoch,
            None => {
                let epoch = crate::ids::new_secret_hex()[..16].to_string();
                writer_conn.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?1)", [&epoch])?;
                epoch
            }
        };
        let epoch: Arc<str> = epoch.into();
        let (log, left, earlier) = CommitLog::open(dir).context("opening the commit log")?;
        file_left(&mut writer_conn, &left).context("filing what the commit log held at start")?;
        log.delete(&earlier).context("dropping commit log generations already filed")?;
        let (readers, jobs) = std::sync::mpsc::channel::<ReadJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..READER_THREADS {
            let (conn, jobs) = (open_connection(&path)?, jobs.clone());
            std::thread::Builder::new()
                .name(format!("makeroom-sqlite-reader-{n}"))
                .spawn(move || {
                    loop {
                        // Holding the lock only to take a job, so the readers work side by side.
                        let job = jobs.lock().map(|jobs| jobs.recv());
                        match job {
                            Ok(Ok(job)) => job(&conn),
                            _ => return,
                        }
                    }
                })
                .context("starting a store reader thread")?;
        }
        // Checkpoints copy the WAL back into the database file and fsync it: run by the writer
        // (SQLite's default) they would stall every append behind them. A thread of their own runs
        // them beside the writer (PASSIVE never blocks it).
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Once restarted, the WAL file is cut back to this size rather than kept at its largest.
        writer_conn.pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES as i64)?;
        // The pages filing touches (each channel's newest leaf, the key index) stay in memory.
        writer_conn.pragma_update(None, "cache_size", -16 * 1024)?;
        let (checkpoint_stop, stop) = std::sync::mpsc::channel::<()>();
        let checkpointer = open_connection(&path)?;
        std::thread::Builder::new()
            .name("makeroom-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
                    if let Err(err) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %err, "checkpointing the store failed; will try again");
                    }
                }
            })
            .context("starting the store's checkpoint thread")?;
        let jobs = Arc::new(Handoff::new());
        let writer_stopped = Arc::new(AtomicBool::new(false));
        let stopped = writer_stopped.clone();
        let tails: Tails = Arc::default();
        let mut writer = Writer {
            conn: writer_conn,
            tails: tails.clone(),
            epoch: epoch.clone(),
            fanout: FanOut::start(sink)?,
            wal: dir.join("makeroom.sqlite3-wal"),
            held: 0,
            last_filed: Instant::now(),
            round: None,
            log,
            known: HashMap::new(),
            commits: 0,
            group: Group::default(),
        };
        std::thread::Builder::new()
            .name("makeroom-sqlite-writer".into())
            .spawn({
                let queued = jobs.clone();
                move || {
                    let ended = WriterEnded { stopped, jobs: queued };
                    writer.run(&ended.jobs)
                }
            })
            .context("starting the store's writer thread")?;
        let photos = super::photos::SqlitePhotos::open(dir)?;
        Ok(SqliteStore {
            writer: jobs,
            writer_stopped,
            readers,
            tails,
            epoch,
            _checkpoint_stop: checkpoint_stop,
            photos,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let outcome =
                work(conn).map_err(|err| StoreError::Unexpected(anyhow::Error::new(err).context("reading history")));
            // The reader may have gone (its connection closed); nothing to do then.
            let _ = reply.send(outcome);
        });
        self.readers.send(job).map_err(|_| StoreError::Unavailable("the store's readers have stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("a store reader stopped".into()))?
    }

    /// A channel as the writer last committed it: where it stands, and (with `pick`) some of what it
    /// holds in memory. `None` if it was not touched since the store opened (then the file has all).
    fn tail_view(&self, key: &ChannelKey, pick: impl Fn(&Publication) -> bool) -> Option<TailView> {
        let tails = lock(&self.tails);
        let tail = tails.get(key.as_str())?;
        Some(TailView {
            id: tail.id,
            top: tail.top,
            first: tail.first,
            filed: tail.filed,
            // What retention let go of is gone for readers already, filed or not.
            held: tail
                .held
                .iter()
                .map(|h| h.publication.as_ref())
                .filter(|p| p.offset >= tail.first && pick(p))
                .cloned()
                .collect(),
        })
    }
}

/// A copy of a channel's tail for one read.
struct TailView {
    id: i64,
    top: u64,
    first: u64,
    filed: u64,
    held: Vec<Publication>,
}

struct ChannelRow {
    id: i64,
    top: u64,
    first: u64,
}

fn channel_row(conn: &Connection, key: &str) -> rusqlite::Result<Option<ChannelRow>> {
    conn.query_row("SELECT id, top, first FROM channels WHERE key = ?1", [key], |row| {
        Ok(ChannelRow { id: row.get(0)?, top: row.get::<_, i64>(1)? as u64, first: row.get::<_, i64>(2)? as u64 })
    })
    .optional()
}

fn row_to_publication(key: &ChannelKey, epoch: &str, row: &rusqlite::Row) -> rusqlite::Result<Publication> {
    let offset: i64 = row.get(0)?;
    let ts: i64 = row.get(1)?;
    let sender: String = row.get(2)?;
    let data: String = row.get(3)?;
    let bad = |err: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    };
    Ok(Publication {
        channel: key.name().to_string(),
        epoch: epoch.to_string(),
        offset: offset as u64,
        ts,
        from: serde_json::from_str::<Sender>(&sender).map_err(bad)?,
        data: RawValue::from_string(data).map_err(bad)?,
    })
}

/// Filed messages of a channel with `low <= offset <= high`, oldest first, at most `limit`
/// (`newest`: the newest `limit` of them).
fn filed_range(
    conn: &Connection,
    key: &ChannelKey,
    epoch: &str,
    id: i64,
    (low, high): (u64, u64),
    limit: u64,
    newest: bool,
) -> rusqlite::Result<Vec<Publication>> {
    if low > high || limit == 0 {
        return Ok(Vec::new());
    }
    let sql = if newest {
        "SELECT offset, ts, sender, data FROM messages
         WHERE channel_id = ?1 AND offset >= ?2 AND offset <= ?3 ORDER BY offset DESC LIMIT ?4"
    } else {
        "SELECT offset, ts, sender, data FROM messages
         WHERE channel_id = ?1 AND offset >= ?2 AND offset <= ?3 ORDER BY offset LIMIT ?4"
    };
    let clamp = |n: u64| n.min(i64::MAX as u64) as i64;
    let mut rows = conn
        .prepare_cached(sql)?
        .query_map(params![id, clamp(low), clamp(high), clamp(limit)], |row| row_to_publication(key, epoch, row))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if newest {
        rows.reverse();
    }
    Ok(rows)
}

impl Store for SqliteStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, Appended> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.writer
                .push(WriteJob { request, reply, queued: Instant::now() })
                .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
            answer.await.map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
        })
    }

    fn read_after<'a>(&'a self, key: &'a ChannelKey, after: u64, limit: u64) -> StoreFuture<'a, ChannelSlice> {
        let key = key.clone();
        let epoch = self.epoch.clone();
        // The held part first, then the file: filing moves messages into the file before it drops
        // them from memory, so the two together never miss one.
        let view = self.tail_view(&key, |p| p.offset > after);
        Box::pin(self.read(move |conn| {
            let view = match view {
                Some(view) => view,
                None => match channel_row(conn, key.as_str())? {
                    Some(row) => TailView { id: row.id, top: row.top, first: row.first, filed: row.top, held: vec![] },
                    None => return Ok(ChannelSlice { epoch, top: 0, first: 1, publications: Vec::new() }),
                },
            };
            let low = (after + 1).max(view.first);
            let mut publications = filed_range(conn, &key, &epoch, view.id, (low, view.filed), limit, false)?;
            let room = (limit as usize).saturating_sub(publications.len());
            let next = publications.last().map_or(low, |p| p.offset + 1);
            publications.extend(view.held.into_iter().filter(|p| p.offset >= next).take(room));
            Ok(ChannelSlice { epoch, top: view.top, first: view.first, publications })
        }))
    }

    fn read_before<'a>(
        &'a self,
        key: &'a ChannelKey,
        before: Option<u64>,
        limit: u64,
    ) -> StoreFuture<'a, ChannelSlice> {
        let key = key.clone();
        let epoch = self.epoch.clone();
        let before = before.unwrap_or(u64::MAX);
        let view = self.tail_view(&key, |p| p.offset < before);
        Box::pin(self.read(move |conn| {
            let view = match view {
                Some(view) => view,
                None => match channel_row(conn, key.as_str())? {
                    Some(row) => TailView { id: row.id, top: row.top, first: row.first, filed: row.top, held: vec![] },
                    None => return Ok(ChannelSlice { epoch, top: 0, first: 1, publications: Vec::new() }),
                },
            };
            let mut held = view.held;
            let newest_held = held.len().saturating_sub(limit as usize);
            let held: Vec<Publication> = held.drain(newest_held..).collect();
            let room = limit - held.len() as u64;
            let high = held.first().map_or(before, |p| p.offset).saturating_sub(1).min(view.filed);
            let mut publications = filed_range(conn, &key, &epoch, view.id, (view.first, high), room, true)?;
            publications.extend(held);
            Ok(ChannelSlice { epoch, top: view.top, first: view.first, publications })
        }))
    }

    fn find_key<'a>(&'a self, key: &'a ChannelKey, idempotency_key: &'a str) -> StoreFuture<'a, Option<Appended>> {
        let held = lock(&self.tails)
            .get(key.as_str())
            .and_then(|tail| tail.held_key(idempotency_key).map(|held| (held.publication.offset, held.publication.ts)));
        let (key, idempotency_key) = (key.clone(), idempotency_key.to_string());
        let epoch = self.epoch.clone();
        Box::pin(async move {
            if let Some((offset, ts)) = held {
                return Ok(Some(Appended { epoch, offset, ts, duplicate: true }));
            }
            self.read(move |conn| {
                conn.prepare_cached(
                    "SELECT m.offset, m.ts FROM messages m JOIN channels c ON c.id = m.channel_id
                     WHERE c.key = ?1 AND m.idem_key = ?2",
                )?
                .query_row(params![key.as_str(), idempotency_key], |row| {
                    Ok(Appended { epoch, offset: row.get::<_, i64>(0)? as u64, ts: row.get(1)?, duplicate: true })
                })
                .optional()
            })
            .await
        })
    }

    fn photos(&self) -> &dyn super::photos::PhotoStore {
        &self.photos
    }

    fn check_ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if self.writer_stopped.load(Ordering::Acquire) {
                return Err(StoreError::Unavailable("the store's writer has stopped".into()));
            }
            self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
        })
    }
}

/// Marks the writer stopped when its thread ends, also while a panic unwinds, and drops what was
/// still queued for it: each appender waiting then hears that the writer stopped.
struct WriterEnded {
    stopped: Arc<AtomicBool>,
    jobs: Arc<Handoff<WriteJob>>,
}

impl Drop for WriterEnded {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        self.jobs.abandon();
    }
}

impl Drop for SqliteStore {
    /// The writer commits what is queued, then ends.
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// The one owner of the write connection.
struct Writer {
    conn: Connection,
    tails: Tails,
    epoch: Arc<str>,
    /// Where committed groups go to be pushed live, off this thread.
    fanout: FanOut,
    wal: PathBuf,
    /// Messages held in memory, not filed yet.
    held: usize,
    last_filed: Instant,
    /// The filing round under way, if any.
    round: Option<Round>,
    /// Where commit groups are made durable.
    log: CommitLog,
    known: KnownKeys,
    commits: u64,
    group: Group,
}

/// A filing round: the channels still to file, and the commit log generation that holds them.
struct Round {
    channels: VecDeque<FilingChannel>,
    generation: u64,
}

/// One channel's held messages, copied out for filing.
struct FilingChannel {
    key: Arc<str>,
    id: i64,
    top: u64,
    first: u64,
    messages: Vec<Arc<Held>>,
}

/// What one append did in its group.
enum Outcome {
    Stored(Appended),
    Duplicate(Appended),
    Refused(StoreError),
}

/// A channel as the group being committed leaves it (made new if it was).
#[derive(Clone, Copy)]
struct Staged {
    id: i64,
    top: u64,
    first: u64,
    filed: u64,
}

/// The group under way: its channels' new positions, its appends as the commit log's record (a
/// JSON array of `PendingAppend`s, written as each is staged after room for the log's header), the
/// keys it used. One is kept by the writer and cleared for each group, so none of it is allocated
/// again.
#[derive(Default)]
struct Group {
    channels: HashMap<Arc<str>, Staged>,
    record: Vec<u8>,
    keys: HashMap<(i64, String), (u64, i64)>,
}

/// A record buffer larger than this after a burst is let go rather than kept for every group after.
const KEPT_RECORD_CAPACITY: usize = 1024 * 1024;

impl Group {
    fn clear(&mut self) {
        self.channels.clear();
        self.keys.clear();
        if self.record.capacity() > KEPT_RECORD_CAPACITY {
            self.record = Vec::new();
        }
        self.record.clear();
    }

    /// Adds one append to the record (the array is closed by `finish_record`).
    fn record_append(&mut self, append: &PendingAppendRef) -> serde_json::Result<()> {
        if self.record.len() <= commit_log::HEADER {
            self.record.resize(commit_log::HEADER, 0);
            self.record.push(b'[');
        } else {
            self.record.push(b',');
        }
        serde_json::to_writer(&mut self.record, append)
    }

    /// The record of the group's appends, or `None` if it stored nothing.
    fn finish_record(&mut self) -> Option<&[u8]> {
        if self.record.len() <= commit_log::HEADER {
            return None;
        }
        self.record.push(b']');
        Some(&self.record[commit_log::HEADER..])
    }

    /// The finished record with the room for the log's header before it, for `append_framed`.
    fn framed_record(&mut self) -> &mut [u8] {
        &mut self.record
    }
}

impl Writer {
    fn run(&mut self, jobs: &Handoff<WriteJob>) {
        // Long enough ago that the first append commits at once.
        let mut last_commit = Instant::now().checked_sub(COMMIT_INTERVAL).unwrap_or_else(Instant::now);
        // Swapped with the queue's own buffer each group: neither is allocated again.
        let mut group = Vec::new();
        loop {
            // Idle, the writer still files what it holds when that falls due, and goes on with a
            // round under way at once.
            let wait = if self.round.is_some() { Duration::ZERO } else { FILE_EVERY };
            match jobs.wait(wait) {
                Waited::Ready => {}
                Waited::TimedOut => {
                    self.file_if_due();
                    continue;
                }
                Waited::Closed => break,
            }
            // Under load, the rest of the interval is slept, not waited on the queue: appenders then
            // queue without waking this thread, once each.
            if let Some(wait) = (last_commit + COMMIT_INTERVAL).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            jobs.take(&mut group, MAX_GROUP);
            last_commit = Instant::now();
            self.commit_group(&mut group);
            self.file_if_due();
            self.restart_wal_if_large();
        }
        // What is still held stays in the commit log: the next open files it.
        tracing::info!("store writer stopped");
    }

    /// Commits `jobs` and answers each, leaving `jobs` empty.
    fn commit_group(&mut self, jobs: &mut Vec<WriteJob>) {
        let group = &mut self.group;
        group.clear();
        let result = (|| -> anyhow::Result<Vec<Outcome>> {
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs.iter() {
                outcomes.push(stage(&self.conn, &self.tails, &mut self.known, &self.epoch, group, &job.request)?);
            }
            if group.finish_record().is_some() {
                self.log.append_framed(group.framed_record()).context("writing the commit log")?;
            }
            Ok(outcomes)
        })();
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(err) => {
                // Nothing of the group was committed, and nothing of it was shown to anyone.
                tracing::error!(error = format!("{err:#}"), "committing appends failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!("write failed: {err}"))));
                }
                return;
            }
        };
        for ((channel, key), _) in self.group.keys.drain() {
            self.known.entry(channel).or_default().insert(key_hash(&key));
        }
        METRICS.store_commits.fetch_add(1, Ordering::Relaxed);
        METRICS.store_appends.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        self.commits += 1;
        let mut committed = Vec::with_capacity(outcomes.len());
        let mut answers = Vec::with_capacity(outcomes.len());
        {
            let mut tails = lock(&self.tails);
            for (key, staged) in &self.group.channels {
                let tail = tails.entry(key.clone()).or_insert_with(|| Tail {
                    id: staged.id,
                    top: staged.top,
                    first: staged.first,
                    filed: staged.filed,
                    held: VecDeque::new(),
                });
                tail.top = staged.top;
                tail.first = staged.first;
            }
            for (job, outcome) in jobs.drain(..).zip(outcomes) {
                let answer = match outcome {
                    Outcome::Stored(appended) => {
                        let request = job.request;
                        // Made of the request itself: its sender and data move, nothing is copied.
                        let publication = Arc::new(Publication {
                            channel: request.key.name().to_string(),
                            epoch: appended.epoch.to_string(),
                            offset: appended.offset,
                            ts: appended.ts,
                            from: request.from,
                            data: request.data,
                        });
                        if let Some(tail) = tails.get_mut(request.key.as_str()) {
                            let held = Held { publication: publication.clone(), key: request.idempotency_key };
                            tail.held.push_back(Arc::new(held));
                            self.held += 1;
                        }
                        committed.push(Committed { key: request.key, publication });
                        Ok(appended)
                    }
                    Outcome::Duplicate(appended) => Ok(appended),
                    Outcome::Refused(err) => Err(err),
                };
                METRICS.store_append.observe(job.queued.elapsed());
                answers.push((job.reply, answer));
            }
        }
        // Pushed live before the appenders hear back, so that an event's own state (which follows
        // its channels) sees its publications as early as it can.
        self.fanout.send(committed);
        for (reply, answer) in answers {
            // The appender may have gone (its connection closed); what was committed stays.
            let _ = reply.send(answer);
        }
    }

    /// Starts a filing round when one is due, or goes on with the one under way by a step.
    fn file_if_due(&mut self) {
        if self.round.is_none() && self.held > 0 && (self.held >= FILE_AT || self.last_filed.elapsed() >= FILE_EVERY) {
            self.round = self.start_round();
        }
        if self.round.is_some() {
            self.file_step();
        }
    }

    /// What a round files: every message held now, channel by channel; the commit log goes on in a
    /// new generation, and the one ending holds exactly these.
    fn start_round(&mut self) -> Option<Round> {
        // What is held now is what the generation ending here holds: the log goes on in a new one.
        let generation = match self.log.rotate() {
            Ok(generation) => generation,
            Err(err) => {
                tracing::error!(error = %err, "starting a new commit log generation failed; will try again");
                self.last_filed = Instant::now();
                return None;
            }
        };
        let tails = lock(&self.tails);
        let channels = tails
            .iter()
            .filter(|(_, tail)| !tail.held.is_empty())
            .map(|(key, tail)| FilingChannel {
                key: key.clone(),
                id: tail.id,
                top: tail.top,
                first: tail.first,
                messages: tail.held.iter().cloned().collect(),
            })
            .collect();
        Some(Round { channels, generation })
    }

    /// Files the next channels of the round (about `FILE_STEP` messages) in one transaction, then
    /// lets go of them in memory. Steps are not synced to disk (what they file is in the commit log)
    /// but the round's last one is, and syncs every step before it with it: only then is the round's
    /// log generation deleted. If a crash loses steps, the log files them again at open.
    fn file_step(&mut self) {
        let Some(round) = self.round.as_mut() else { return };
        let mut step = Vec::new();
        let mut messages = 0;
        while messages < FILE_STEP
            && let Some(channel) = round.channels.pop_front()
        {
            messages += channel.messages.len();
            step.push(channel);
        }
        let (last, generation) = (round.channels.is_empty(), round.generation);
        let result = (|| -> anyhow::Result<()> {
            if !last {
                self.conn.pragma_update(None, "synchronous", "OFF")?;
            }
            let transaction = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut filing = Filing::new(&transaction)?;
                for channel in &step {
                    for held in &channel.messages {
                        let Publication { offset, ts, from, data, .. } = held.publication.as_ref();
                        filing.insert(channel.id, *offset, *ts, from, data, held.key.as_deref())?;
                    }
                    filing.trim_and_mark(channel.id, channel.top, channel.first)?;
                }
            }
            transaction.commit()?;
            Ok(())
        })();
        if let Err(err) = self.conn.pragma_update(None, "synchronous", "FULL") {
            // The last step of a round must be synced before its log goes: stop rather than risk it.
            panic!("could not make the store's filing durable again: {err}");
        }
        if let Err(err) = result {
            tracing::error!(error = format!("{err:#}"), "filing held appends failed; will try again");
            // The round starts afresh later (its generation stays); what it filed is filed again.
            self.round = None;
            self.last_filed = Instant::now();
            return;
        }
        if last && let Err(err) = self.log.delete(&[generation]) {
            tracing::warn!(error = %err, "could not delete a filed commit log generation");
        }
        let mut tails = lock(&self.tails);
        for channel in step {
            if let Some(tail) = tails.get_mut(&channel.key) {
                tail.held.retain(|held| held.publication.offset > channel.top);
                tail.filed = tail.filed.max(channel.top);
            }
        }
        self.held = tails.values().map(|tail| tail.held.len()).sum();
        if last {
            self.round = None;
            self.last_filed = Instant::now();
        }
    }

    /// Starts the WAL from its beginning when it has grown large, on the writer's own connection
    /// (which waits for nobody but the readers, briefly).
    fn restart_wal_if_large(&mut self) {
        if !self.commits.is_multiple_of(256) {
            return;
        }
        let size = std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size > WAL_RESTART_BYTES
            && let Err(err) = self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
        {
            tracing::warn!(error = %err, "restarting the WAL failed; will try again");
        }
    }
}

/// The statements filing a step, prepared once for all its messages (looking each up again in
/// the statement cache, by its text, showed in the writer's profile).
struct Filing<'t> {
    insert: rusqlite::CachedStatement<'t>,
    trim: rusqlite::CachedStatement<'t>,
    mark: rusqlite::CachedStatement<'t>,
    /// The sender as JSON, written anew for each message into the same buffer.
    sender: Vec<u8>,
}

impl<'t> Filing<'t> {
    fn new(tx: &'t rusqlite::Transaction) -> anyhow::Result<Self> {
        Ok(Filing {
            insert: tx.prepare_cached(
                "INSERT OR IGNORE INTO messages (channel_id, offset, ts, sender, data, idem_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
            trim: tx.prepare_cached("DELETE FROM messages WHERE channel_id = ?1 AND offset < ?2")?,
            mark: tx.prepare_cached("UPDATE channels SET top = ?2, first = ?3 WHERE id = ?1")?,
            sender: Vec::new(),
        })
    }

    /// Files one message (ignoring one filed already: a crash between filing and deleting the log
    /// generation files it again).
    fn insert(
        &mut self,
        channel: i64,
        offset: u64,
        ts: i64,
        from: &Sender,
        data: &RawValue,
        key: Option<&str>,
    ) -> anyhow::Result<()> {
        self.sender.clear();
        serde_json::to_writer(&mut self.sender, from)?;
        let sender = std::str::from_utf8(&self.sender)?;
        self.insert.execute(params![channel, offset as i64, ts, sender, data.get(), key])?;
        Ok(())
    }

    /// Drops what retention let go of, and records where the channel stands.
    fn trim_and_mark(&mut self, channel: i64, top: u64, first: u64) -> anyhow::Result<()> {
        self.trim.execute(params![channel, first as i64])?;
        self.mark.execute(params![channel, top as i64, first as i64])?;
        Ok(())
    }
}

/// Files what the commit log held at start (a stop or a crash before its filing), in one synced
/// transaction.
fn file_left(conn: &mut Connection, records: &[Vec<u8>]) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let transaction = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut filing = Filing::new(&transaction)?;
        let mut positions: HashMap<i64, (u64, u64)> = HashMap::new();
        for record in records {
            let appends: Vec<PendingAppend> =
                serde_json::from_slice(record).context("a commit log record is unreadable")?;
            for append in appends {
                filing.insert(
                    append.channel,
                    append.offset,
                    append.ts,
                    &append.from,
                    &append.data,
                    append.key.as_deref(),
                )?;
                let position = positions.entry(append.channel).or_insert((0, 1));
                *position = (position.0.max(append.offset), position.1.max(append.first));
            }
        }
        for (channel, (top, first)) in positions {
            let (stored_top, stored_first): (i64, i64) =
                transaction.query_row("SELECT top, first FROM channels WHERE id = ?1", [channel], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            filing.trim_and_mark(channel, top.max(stored_top as u64), first.max(stored_first as u64))?;
        }
    }
    transaction.commit()?;
    tracing::info!(groups = records.len(), "filed what the commit log held");
    Ok(())
}

/// Decides one append against where its channel stands (committed, and earlier in this group).
fn stage(
    conn: &Connection,
    tails: &Tails,
    known: &mut KnownKeys,
    epoch: &Arc<str>,
    group: &mut Group,
    request: &AppendRequest,
) -> anyhow::Result<Outcome> {
    let key = request.key.as_str();
    let channel = match group.channels.get(key) {
        Some(staged) => *staged,
        None => {
            let known = lock(tails).get(key).map(|t| Staged { id: t.id, top: t.top, first: t.first, filed: t.filed });
            let staged = match known {
                Some(staged) => staged,
                None => match channel_row(conn, key)? {
                    Some(row) => Staged { id: row.id, top: row.top, first: row.first, filed: row.top },
                    None => {
                        // Durable (synced) before the commit log names its id.
                        conn.execute("INSERT INTO channels (key, top, first) VALUES (?1, 0, 1)", [key])?;
                        Staged { id: conn.last_insert_rowid(), top: 0, first: 1, filed: 0 }
                    }
                },
            };
            group.channels.insert(request.key.shared(), staged);
            staged
        }
    };
    if let Some(idem_key) = &request.idempotency_key
        && let Some((offset, ts)) = find_duplicate(conn, tails, known, group, (key, channel.id), idem_key)?
    {
        return Ok(Outcome::Duplicate(Appended { epoch: epoch.clone(), offset, ts, duplicate: true }));
    }
    if let Some(expected) = request.expected_offset
        && expected != channel.top
    {
        return Ok(Outcome::Refused(StoreError::Conflict { top: channel.top }));
    }
    let offset = channel.top + 1;
    let ts = now_millis();
    let first = match request.retain {
        Some(retain) => channel.first.max((offset + 1).saturating_sub(retain.max(1))),
        None => channel.first,
    };
    group.channels.insert(request.key.shared(), Staged { top: offset, first, ..channel });
    if let Some(idem_key) = &request.idempotency_key {
        group.keys.insert((channel.id, idem_key.clone()), (offset, ts));
    }
    group.record_append(&PendingAppendRef {
        channel: channel.id,
        offset,
        ts,
        first,
        from: &request.from,
        data: &request.data,
        key: request.idempotency_key.as_deref(),
    })?;
    Ok(Outcome::Stored(Appended { epoch: epoch.clone(), offset, ts, duplicate: false }))
}

/// Hashes of every idempotency key used on a channel, per channel id: a key whose hash is not there
/// was never used, and needs no lookup in the file (most keys are new).
type KnownKeys = HashMap<i64, HashSet<u64>>;

fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The known keys of a channel, read the first time it is written to after the store opened.
fn known_keys<'a>(
    conn: &Connection,
    tails: &Tails,
    known: &'a mut KnownKeys,
    key: &str,
    channel: i64,
) -> anyhow::Result<&'a HashSet<u64>> {
    if let std::collections::hash_map::Entry::Vacant(vacant) = known.entry(channel) {
        let mut hashes: HashSet<u64> = conn
            .prepare_cached("SELECT idem_key FROM messages WHERE channel_id = ?1 AND idem_key IS NOT NULL")?
            .query_map([channel], |row| row.get::<_, String>(0))?
            .map(|key| key.map(|key| key_hash(&key)))
            .collect::<rusqlite::Result<_>>()?;
        if let Some(tail) = lock(tails).get(key) {
            hashes.extend(tail.held.iter().filter_map(|held| held.key.as_deref()).map(key_hash));
        }
        vacant.insert(hashes);
    }
    known.get(&channel).context("a channel's keys vanished")
}

/// Where an idempotency key was stored on a channel before: earlier in this group, held, or filed.
fn find_duplicate(
    conn: &Connection,
    tails: &Tails,
    known: &mut KnownKeys,
    group: &Group,
    (key, channel): (&str, i64),
    idem_key: &str,
) -> anyhow::Result<Option<(u64, i64)>> {
    if let Some(found) = group.keys.get(&(channel, idem_key.to_string())) {
        return Ok(Some(*found));
    }
    if !known_keys(conn, tails, known, key, channel)?.contains(&key_hash(idem_key)) {
        return Ok(None);
    }
    let held =
        lock(tails).get(key).and_then(|tail| tail.held_key(idem_key).map(|h| (h.publication.offset, h.publication.ts)));
    if held.is_some() {
        return Ok(held);
    }
    let filed: Option<(i64, i64)> = conn
        .prepare_cached("SELECT offset, ts FROM messages WHERE channel_id = ?1 AND idem_key = ?2")?
        .query_row(params![channel, idem_key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(filed.map(|(offset, ts)| (offset as u64, ts)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use makeroom_protocol::Role;

    #[derive(Default)]
    struct Collected(Mutex<Vec<(String, u64)>>);
    impl PublicationSink for Collected {
        fn deliver(&self, group: Vec<Committed>) {
            let mut collected = self.0.lock().expect("lock");
            collected.extend(group.into_iter().map(|c| (c.key.to_string(), c.publication.offset)));
        }
    }

    fn request(key: &ChannelKey, text: &str, idem: Option<&str>) -> AppendRequest {
        AppendRequest {
            key: key.clone(),
            data: RawValue::from_string(format!(r#"{{"text":"{text}"}}"#)).expect("raw"),
            from: Sender { id: "p_1".into(), name: "Ada".into(), role: Role::Participant },
            idempotency_key: idem.map(str::to_string),
            expected_offset: None,
            retain: None,
        }
    }

    #[tokio::test]
    async fn appends_get_gap_free_offsets_and_reach_the_sink_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Arc::new(Collected::default());
        let store = Arc::new(SqliteStore::open(dir.path(), sink.clone()).expect("open"));
        let key = ChannelKey::new("ev", "lobby");
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (store, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move { store.append(request(&key, &i.to_string(), None)).await }));
        }
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.push(task.await.expect("join").expect("append").offset);
        }
        offsets.sort();
        assert_eq!(offsets, (1..=50).collect::<Vec<_>>());
        // The fan-out runs on its own thread, beside the appenders' replies.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while sink.0.lock().expect("lock").len() < 50 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let delivered: Vec<u64> = sink.0.lock().expect("lock").iter().map(|(_, o)| *o).collect();
        assert_eq!(delivered, (1..=50).collect::<Vec<_>>());
        let slice = store.read_after(&key, 45, 100).await.expect("read");
        assert_eq!(slice.top, 50);
        assert_eq!(slice.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![46, 47, 48, 49, 50]);
        assert_eq!(slice.publications[0].channel, "lobby");
    }

    #[tokio::test]
    async fn an_idempotency_key_stores_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let key = ChannelKey::new("ev", "lobby");
        let first = store.append(request(&key, "a", Some("k1"))).await.expect("first");
        let again = store.append(request(&key, "a", Some("k1"))).await.expect("again");
        assert_eq!((first.offset, first.duplicate), (1, false));
        assert_eq!((again.offset, again.duplicate), (1, true));
        let other = store.append(request(&key, "b", Some("k2"))).await.expect("other");
        assert_eq!(other.offset, 2);
        // The same key on another channel is another message.
        let elsewhere = store.append(request(&ChannelKey::new("ev", "x"), "a", Some("k1"))).await.expect("x");
        assert_eq!((elsewhere.offset, elsewhere.duplicate), (1, false));
    }

    #[tokio::test]
    async fn compare_and_append_refuses_a_stale_expectation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let key = ChannelKey::new("ev", "roster");
        let mut first = request(&key, "a", None);
        first.expected_offset = Some(0);
        assert_eq!(store.append(first).await.expect("fits").offset, 1);
        let mut stale = request(&key, "b", None);
        stale.expected_offset = Some(0);
        assert!(matches!(store.append(stale).await, Err(StoreError::Conflict { top: 1 })));
        assert_eq!(store.read_after(&key, 0, 10).await.expect("read").publications.len(), 1);
    }

    #[tokio::test]
    async fn retention_trims_the_oldest_and_reports_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let key = ChannelKey::new("ev", "lobby");
        for i in 0..10 {
            let mut req = request(&key, &i.to_string(), None);
            req.retain = Some(4);
            store.append(req).await.expect("append");
        }
        let slice = store.read_after(&key, 0, 100).await.expect("read");
        assert_eq!((slice.first, slice.top), (7, 10));
        assert_eq!(slice.publications.len(), 4);
        let older = store.read_before(&key, Some(9), 2).await.expect("read before");
        assert_eq!(older.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![7, 8]);
    }

    #[tokio::test]
    async fn the_wal_is_copied_back_into_the_database_by_the_checkpoint_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let database = dir.path().join("makeroom.sqlite3");
        let size = || std::fs::metadata(&database).map(|m| m.len()).unwrap_or(0);
        let before = size();
        let key = ChannelKey::new("ev", "lobby");
        let long = "x".repeat(2000);
        for _ in 0..50 {
            store.append(request(&key, &long, None)).await.expect("append");
        }
        // The writer never checkpoints (wal_autocheckpoint=0): only the checkpoint thread can grow
        // the database file. Bounded wait, not a speed claim: it runs every CHECKPOINT_EVERY.
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while size() <= before + 50 * 2000 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(size() > before + 50 * 2000, "the database file stayed at {} bytes (was {before})", size());
    }

    /// Until it is filed, a message lives in the commit log and in memory; reads join the two.
    #[tokio::test]
    async fn reads_join_what_is_filed_with_what_is_held_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let key = ChannelKey::new("ev", "lobby");
        for i in 0..10 {
            store.append(request(&key, &i.to_string(), Some(&format!("k{i}")))).await.expect("append");
        }
        // Bounded wait for the writer to file them (it does every FILE_EVERY).
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock(&store.tails).get(key.as_str()).is_some_and(|t| !t.held.is_empty()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(lock(&store.tails).get(key.as_str()).map(|t| (t.filed, t.held.len())), Some((10, 0)));
        for i in 10..15 {
            store.append(request(&key, &i.to_string(), Some(&format!("k{i}")))).await.expect("append");
        }
        let all = store.read_after(&key, 0, 100).await.expect("read");
        assert_eq!(all.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), (1..=15).collect::<Vec<_>>());
        let middle = store.read_after(&key, 8, 4).await.expect("read");
        assert_eq!(middle.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![9, 10, 11, 12]);
        let newest = store.read_before(&key, None, 7).await.expect("read");
        assert_eq!(newest.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), (9..=15).collect::<Vec<_>>());
        let older = store.read_before(&key, Some(12), 3).await.expect("read");
        assert_eq!(older.publications.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![9, 10, 11]);
        for (key_name, offset) in [("k3", 4), ("k13", 14)] {
            let found = store.find_key(&key, key_name).await.expect("find").expect("found");
            assert_eq!(found.offset, offset);
            let again = store.append(request(&key, "again", Some(key_name))).await.expect("append");
            assert_eq!((again.offset, again.duplicate), (offset, true), "{key_name} is stored once");
        }
        assert_eq!(store.read_before(&key, None, 0).await.expect("top").top, 15);
    }

    /// The writer writes a group's record from the requests themselves; it must read back as the
    /// `PendingAppend`s that recovery parses, byte for byte what serializing those would give.
    #[test]
    fn a_group_record_written_from_requests_is_the_array_of_pending_appends() {
        let from = Sender { id: "p_1".into(), name: "Ada \"A\" Lovelace".into(), role: Role::Participant };
        let owned: Vec<PendingAppend> = [Some("k1"), None, Some("k3")]
            .iter()
            .enumerate()
            .map(|(i, key)| PendingAppend {
                channel: 7,
                offset: i as u64 + 1,
                ts: 1_700_000_000_000 + i as i64,
                first: 1,
                from: from.clone(),
                data: RawValue::from_string(format!(r#"{{"text":"n\u00e9 {i}"}}"#)).expect("raw"),
                key: key.map(str::to_string),
            })
            .collect();
        let mut group = Group::default();
        assert!(group.finish_record().is_none(), "a group that stored nothing writes no record");
        group.clear();
        for append in &owned {
            group
                .record_append(&PendingAppendRef {
                    channel: append.channel,
                    offset: append.offset,
                    ts: append.ts,
                    first: append.first,
                    from: &append.from,
                    data: &append.data,
                    key: append.key.as_deref(),
                })
                .expect("staged");
        }
        let record = group.finish_record().expect("a record").to_vec();
        assert_eq!(record, serde_json::to_vec(&owned).expect("json"));
        let read: Vec<PendingAppend> = serde_json::from_slice(&record).expect("reads back");
        assert_eq!(read.len(), 3);
        assert_eq!((read[1].key.as_deref(), read[2].key.as_deref()), (None, Some("k3")));
        group.clear();
        assert!(group.finish_record().is_none(), "cleared for the next group");
    }

    #[test]
    fn a_huge_group_record_is_not_kept_for_the_groups_after_it() {
        let from = Sender { id: "p_1".into(), name: "Ada".into(), role: Role::Participant };
        let big = RawValue::from_string(format!(r#""{}""#, "x".repeat(2 * KEPT_RECORD_CAPACITY))).expect("raw");
        let mut group = Group::default();
        let append = PendingAppendRef { channel: 1, offset: 1, ts: 1, first: 1, from: &from, data: &big, key: None };
        group.record_append(&append).expect("staged");
        assert!(group.finish_record().is_some_and(|r| r.len() > 2 * KEPT_RECORD_CAPACITY));
        group.clear();
        assert!(group.record.capacity() <= KEPT_RECORD_CAPACITY, "let go after the burst");
    }

    /// A stop between a commit and its filing leaves commit log records: opening files them.
    #[tokio::test]
    async fn appends_left_in_the_commit_log_are_filed_when_the_store_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn = open_connection(&dir.path().join("makeroom.sqlite3")).expect("open");
            conn.execute_batch(SCHEMA).expect("schema");
            conn.execute("INSERT INTO channels (key, top, first) VALUES ('ev/lobby', 0, 1)", []).expect("channel");
            let (mut log, _, _) = CommitLog::open(dir.path()).expect("log");
            let appends: Vec<PendingAppend> = (1..=3)
                .map(|offset| PendingAppend {
                    channel: 1,
                    offset,
                    ts: 1,
                    first: 1,
                    from: Sender { id: "p_1".into(), name: "Ada".into(), role: Role::Participant },
                    data: RawValue::from_string(format!(r#"{{"text":"{offset}"}}"#)).expect("raw"),
                    key: Some(format!("k{offset}")),
                })
                .collect();
            log.append(&serde_json::to_vec(&appends).expect("json")).expect("logged");
        }
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
        let key = ChannelKey::new("ev", "lobby");
        let slice = store.read_after(&key, 0, 10).await.expect("read");
        assert_eq!((slice.top, slice.publications.len()), (3, 3));
        let next = store.append(request(&key, "next", Some("k2"))).await.expect("append");
        assert_eq!((next.offset, next.duplicate), (2, true), "the filed keys still count");
        assert_eq!(store.append(request(&key, "new", None)).await.expect("append").offset, 4);
        drop(store);
        let logs = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|entry| entry.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("commits-")))
            .count();
        assert!(logs <= 2, "the generation filed at open is gone ({logs} log files)");
    }

    #[tokio::test]
    async fn everything_appended_survives_reopening_with_the_same_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = ChannelKey::new("ev", "lobby");
        let epoch = {
            let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("open");
            for i in 0..3 {
                store.append(request(&key, &i.to_string(), None)).await.expect("append");
            }
            store.epoch.clone()
        };
        let store = SqliteStore::open(dir.path(), Arc::new(Collected::default())).expect("reopen");
        assert_eq!(store.epoch, epoch);
        let next = store.append(request(&key, "after", None)).await.expect("append");
        assert_eq!(next.offset, 4);
        assert_eq!(store.read_after(&key, 0, 10).await.expect("read").publications.len(), 4);
    }
}
