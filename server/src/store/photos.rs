//! Photos: the bytes of the pictures teams upload of what they made, kept with their event. What a
//! photo is (its team, type and size) is recorded on the event's `outputs` log; here are only the
//! bytes, under the event and the photo's id. Both stores keep them: the embedded one in its own
//! SQLite file in the data folder (`photos.sqlite3`, apart from the channel logs so that a large
//! write never holds up a chat message), Redis under the instance prefix. Each `Store` gives its own
//! (`Store::photos`). A `put` returns only once the photo is durable.

use super::{StoreError, StoreFuture};
use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A stored photo's bytes and the content type it is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub trait PhotoStore: Send + Sync {
    /// Durably stores a photo under `event` and `id` (a fresh, random id: an existing one is replaced).
    fn put<'a>(&'a self, event: &'a str, id: &'a str, photo: StoredPhoto) -> StoreFuture<'a, ()>;

    /// The photo, if one is stored under `event` and `id`.
    fn get<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, Option<StoredPhoto>>;

    /// Forgets a photo (one whose upload could not be recorded); nothing if there is none.
    fn remove<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, ()>;
}

/// The embedded store's photos: one SQLite file, written with `synchronous = FULL`, so a commit is
/// on disk before `put` returns.
pub struct SqlitePhotos {
    conn: Arc<Mutex<Connection>>,
}

impl SqlitePhotos {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let conn = super::sqlite::open_connection(&dir.join("photos.sqlite3"))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS photos (
                event TEXT NOT NULL,
                id TEXT NOT NULL,
                content_type TEXT NOT NULL,
                bytes BLOB NOT NULL,
                PRIMARY KEY (event, id)
            ) WITHOUT ROWID;",
        )
        .context("creating the photos table")?;
        Ok(SqlitePhotos { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `work` on the connection on a blocking thread (SQLite's calls block).
    fn run<'a, T: Send + 'static>(
        &'a self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'a, T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                work(&conn)
            })
            .await
            .map_err(|err| StoreError::Unexpected(anyhow::anyhow!("the photo store's thread failed: {err}")))?
            .map_err(|err| StoreError::Unexpected(anyhow::Error::new(err).context("the photo store")))
        })
    }
}

impl PhotoStore for SqlitePhotos {
    fn put<'a>(&'a self, event: &'a str, id: &'a str, photo: StoredPhoto) -> StoreFuture<'a, ()> {
        let (event, id) = (event.to_string(), id.to_string());
        self.run(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO photos (event, id, content_type, bytes) VALUES (?1, ?2, ?3, ?4)",
                params![event, id, photo.content_type, photo.bytes],
            )
            .map(|_| ())
        })
    }

    fn get<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, Option<StoredPhoto>> {
        let (event, id) = (event.to_string(), id.to_string());
        self.run(move |conn| {
            conn.query_row(
                "SELECT content_type, bytes FROM photos WHERE event = ?1 AND id = ?2",
                params![event, id],
                |row| Ok(StoredPhoto { content_type: row.get(0)?, bytes: row.get(1)? }),
            )
            .optional()
        })
    }

    fn remove<'a>(&'a self, event: &'a str, id: &'a str) -> StoreFuture<'a, ()> {
        let (event, id) = (event.to_string(), id.to_string());
        self.run(move |conn| {
            conn.execute("DELETE FROM photos WHERE event = ?1 AND id = ?2", params![event, id]).map(|_| ())
        })
    }
}
