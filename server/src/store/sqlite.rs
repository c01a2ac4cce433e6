//! The embedded store: channel logs in one SQLite file, for a single instance with no other service.
//!
//! One writer thread owns the write connection and commits appends in groups (one fsync for every
//! append waiting at that moment), then hands the committed publications to the sink in offset order.
//! Under load it commits at most once per `COMMIT_INTERVAL`, gathering what arrives meanwhile: an
//! fsync and the WAL pages of a commit cost the same for one append as for fifty.
//! Reads use their own connection on tokio's blocking pool; WAL mode lets them run beside the writer.
//! `synchronous=FULL`: a commit survives a crash of the process and a loss of power.

use super::{
    AppendRequest, Appended, ChannelKey, ChannelSlice, Committed, FanOut, PublicationSink, Store, StoreError,
    StoreFuture,
};
use crate::clock::now_millis;
use crate::metrics::METRICS;
use anyhow::Context;
use makeroom_protocol::{Publication, Sender};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// Threads reading history, each with its own connection.
const READER_THREADS: usize = 4;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Appends committed in one transaction at most; bounds the latency one group adds.
const MAX_GROUP: usize = 512;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The shortest time between the starts of two commits. An append to an idle store commits at once;
/// under load each commit waits for the rest of this interval to gather more appends. Measured: at
/// 2,500 appends/s, commits of one or two appends spent a quarter of a core in fsync and WAL writes.
const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

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
}

pub struct SqliteStore {
    /// Unbounded, yet bounded in practice: a connection has one request in flight at a time.
    writer: std::sync::mpsc::Sender<WriteJob>,
    /// Set when the writer thread has ended (it only ends by a panic while the store is open).
    writer_stopped: Arc<AtomicBool>,
    /// Dropped with the store, which ends the checkpoint thread.
    _checkpoint_stop: std::sync::mpsc::Sender<()>,
    /// Read jobs for the reader threads, each with its own connection (WAL lets them read while the
    /// writer commits). A fixed pool: reads do not spill onto tokio's blocking pool.
    readers: std::sync::mpsc::Sender<ReadJob>,
    epoch: Arc<str>,
}

fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir/makeroom.sqlite3` and starts its writer thread.
    pub fn open(dir: &Path, sink: Arc<dyn PublicationSink>) -> anyhow::Result<Self> {
        let path: PathBuf = dir.join("makeroom.sqlite3");
        let writer_conn = open_connection(&path)?;
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
        // Checkpoints copy the WAL back into the database file and fsync it: tens of milliseconds
        // that, run by the writer (SQLite's default), stall every append behind them. A thread of
        // their own runs them beside the writer (PASSIVE never blocks it).
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // The pages every append touches (each channel's newest leaf, the key index) stay in memory
        // instead of being read back from the file (SQLite's default cache is 2 MiB).
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
        let (tx, rx) = std::sync::mpsc::channel();
        let writer_stopped = Arc::new(AtomicBool::new(false));
        let stopped = writer_stopped.clone();
        let fanout = FanOut::start(sink)?;
        let mut writer = Writer { conn: writer_conn, channels: HashMap::new(), epoch: epoch.clone(), fanout };
        std::thread::Builder::new()
            .name("makeroom-sqlite-writer".into())
            .spawn(move || {
                let _stopped = SetOnDrop(stopped);
                writer.run(rx)
            })
            .context("starting the store's writer thread")?;
        Ok(SqliteStore { writer: tx, writer_stopped, readers, epoch, _checkpoint_stop: checkpoint_stop })
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

impl Store for SqliteStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, Appended> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.writer
                .send(WriteJob { request, reply })
                .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
            answer.await.map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
        })
    }

    fn read_after<'a>(&'a self, key: &'a ChannelKey, after: u64, limit: u64) -> StoreFuture<'a, ChannelSlice> {
        let key = key.clone();
        let epoch = self.epoch.clone();
        Box::pin(self.read(move |conn| {
            let Some(channel) = channel_row(conn, key.as_str())? else {
                return Ok(ChannelSlice { epoch, top: 0, first: 1, publications: Vec::new() });
            };
            let mut statement = conn.prepare_cached(
                "SELECT offset, ts, sender, data FROM messages
                 WHERE channel_id = ?1 AND offset > ?2 ORDER BY offset LIMIT ?3",
            )?;
            let publications = statement
                .query_map(params![channel.id, after as i64, limit as i64], |row| {
                    row_to_publication(&key, &epoch, row)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ChannelSlice { epoch, top: channel.top, first: channel.first, publications })
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
        Box::pin(self.read(move |conn| {
            let Some(channel) = channel_row(conn, key.as_str())? else {
                return Ok(ChannelSlice { epoch, top: 0, first: 1, publications: Vec::new() });
            };
            let before = before.unwrap_or(u64::MAX).min(i64::MAX as u64) as i64;
            let mut statement = conn.prepare_cached(
                "SELECT offset, ts, sender, data FROM messages
                 WHERE channel_id = ?1 AND offset < ?2 ORDER BY offset DESC LIMIT ?3",
            )?;
            let mut publications = statement
                .query_map(params![channel.id, before, limit as i64], |row| row_to_publication(&key, &epoch, row))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            publications.reverse();
            Ok(ChannelSlice { epoch, top: channel.top, first: channel.first, publications })
        }))
    }

    fn find_key<'a>(&'a self, key: &'a ChannelKey, idempotency_key: &'a str) -> StoreFuture<'a, Option<Appended>> {
        let (key, idempotency_key) = (key.clone(), idempotency_key.to_string());
        let epoch = self.epoch.clone();
        Box::pin(self.read(move |conn| {
            conn.prepare_cached(
                "SELECT m.offset, m.ts FROM messages m JOIN channels c ON c.id = m.channel_id
                 WHERE c.key = ?1 AND m.idem_key = ?2",
            )?
            .query_row(params![key.as_str(), idempotency_key], |row| {
                Ok(Appended { epoch, offset: row.get::<_, i64>(0)? as u64, ts: row.get(1)?, duplicate: true })
            })
            .optional()
        }))
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

/// Sets its flag when dropped, also while a panic unwinds.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The one owner of the write connection.
struct Writer {
    conn: Connection,
    /// Every channel's row as last committed: the writer is the only one who changes them.
    channels: HashMap<Arc<str>, ChannelRow>,
    epoch: Arc<str>,
    /// Where committed groups go to be pushed live, off this thread.
    fanout: FanOut,
}

/// What one append did inside the open transaction.
enum Outcome {
    Stored(Appended, Publication),
    Duplicate(Appended),
    Refused(StoreError),
}

impl Writer {
    fn run(&mut self, jobs: std::sync::mpsc::Receiver<WriteJob>) {
        // Long enough ago that the first append commits at once.
        let mut last_commit = Instant::now().checked_sub(COMMIT_INTERVAL).unwrap_or_else(Instant::now);
        while let Ok(first) = jobs.recv() {
            let mut group = vec![first];
            let due = last_commit + COMMIT_INTERVAL;
            while group.len() < MAX_GROUP {
                let job = match jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) => match due.checked_duration_since(Instant::now()) {
                        Some(wait) if !wait.is_zero() => match jobs.recv_timeout(wait) {
                            Ok(job) => job,
                            Err(_) => break,
                        },
                        _ => break,
                    },
                };
                group.push(job);
            }
            last_commit = Instant::now();
            self.commit_group(group);
        }
        tracing::info!("store writer stopped");
    }

    fn commit_group(&mut self, group: Vec<WriteJob>) {
        let result = (|| -> anyhow::Result<Vec<Outcome>> {
            let transaction = self.conn.transaction()?;
            let mut outcomes = Vec::with_capacity(group.len());
            for job in &group {
                outcomes.push(append_one(&transaction, &mut self.channels, &self.epoch, &job.request)?);
            }
            transaction.commit()?;
            Ok(outcomes)
        })();
        match result {
            Ok(outcomes) => {
                METRICS.store_commits.fetch_add(1, Ordering::Relaxed);
                METRICS.store_appends.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
                let mut committed = Vec::with_capacity(outcomes.len());
                let mut answers = Vec::with_capacity(outcomes.len());
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let answer = match outcome {
                        Outcome::Stored(appended, publication) => {
                            committed.push(Committed { key: job.request.key, publication });
                            Ok(appended)
                        }
                        Outcome::Duplicate(appended) => Ok(appended),
                        Outcome::Refused(err) => Err(err),
                    };
                    answers.push((job.reply, answer));
                }
                // Pushed live before the appenders hear back, so that an event's own state (which
                // follows its channels) sees its publications as early as it can.
                self.fanout.send(committed);
                for (reply, answer) in answers {
                    // The appender may have gone (its connection closed); what was committed stays.
                    let _ = reply.send(answer);
                }
            }
            Err(err) => {
                // Nothing of the group was committed; the cached rows may be ahead of the file.
                self.channels.clear();
                tracing::error!(error = format!("{err:#}"), "committing appends failed");
                for job in group {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!("write failed: {err}"))));
                }
            }
        }
    }
}

fn append_one(
    tx: &rusqlite::Transaction,
    channels: &mut HashMap<Arc<str>, ChannelRow>,
    epoch: &Arc<str>,
    request: &AppendRequest,
) -> anyhow::Result<Outcome> {
    let key = request.key.as_str();
    if !channels.contains_key(key) {
        let row = match channel_row(tx, key)? {
            Some(row) => row,
            None => {
                tx.execute("INSERT INTO channels (key, top, first) VALUES (?1, 0, 1)", [key])?;
                ChannelRow { id: tx.last_insert_rowid(), top: 0, first: 1 }
            }
        };
        channels.insert(request.key.shared(), row);
    }
    let channel = channels.get_mut(key).context("channel row vanished from the cache")?;

    if let Some(idem_key) = &request.idempotency_key {
        let existing: Option<(i64, i64)> = tx
            .prepare_cached("SELECT offset, ts FROM messages WHERE channel_id = ?1 AND idem_key = ?2")?
            .query_row(params![channel.id, idem_key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((offset, ts)) = existing {
            return Ok(Outcome::Duplicate(Appended {
                epoch: epoch.clone(),
                offset: offset as u64,
                ts,
                duplicate: true,
            }));
        }
    }
    if let Some(expected) = request.expected_offset
        && expected != channel.top
    {
        return Ok(Outcome::Refused(StoreError::Conflict { top: channel.top }));
    }

    let offset = channel.top + 1;
    let ts = now_millis();
    let sender = serde_json::to_string(&request.from)?;
    tx.prepare_cached(
        "INSERT INTO messages (channel_id, offset, ts, sender, data, idem_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![channel.id, offset as i64, ts, sender, request.data.get(), request.idempotency_key])?;
    let mut first = channel.first;
    if let Some(retain) = request.retain {
        let keep_from = (offset + 1).saturating_sub(retain.max(1));
        if keep_from > first {
            tx.prepare_cached("DELETE FROM messages WHERE channel_id = ?1 AND offset < ?2")?
                .execute(params![channel.id, keep_from as i64])?;
            first = keep_from;
        }
    }
    tx.prepare_cached("UPDATE channels SET top = ?2, first = ?3 WHERE id = ?1")?.execute(params![
        channel.id,
        offset as i64,
        first as i64
    ])?;
    channel.top = offset;
    channel.first = first;

    let publication = Publication {
        channel: request.key.name().to_string(),
        epoch: epoch.to_string(),
        offset,
        ts,
        from: request.from.clone(),
        data: request.data.clone(),
    };
    Ok(Outcome::Stored(Appended { epoch: epoch.clone(), offset, ts, duplicate: false }, publication))
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
