//! The embedded store's commit log: append-only files, one record per commit group, each made
//! durable (`fdatasync`) before anyone hears of its appends. It is what makes an append durable at
//! the cost of one small write and one sync, where a SQLite transaction would write whole pages.
//! SQLite files the logged messages in the background; a generation of the log is deleted once all
//! it holds is filed durably. At start-up, whatever generations are left are read back.
//!
//! A record is `length (u32 LE) | checksum (u64 LE, FNV-1a of the payload) | payload`. A crash in
//! the middle of a write leaves a torn last record, which the checksum shows; it was never
//! acknowledged (its sync had not returned), so it is dropped. It must never be read as valid.
//!
//! Files are written full of zeros ahead of the records (`ZEROED_AHEAD` at a time), so that syncing a
//! record writes its data and never the file's size or new blocks: on this kind of disk a sync that
//! must also write metadata costs about twice as much. A zero length ends the records.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A record's header; a caller building a record leaves this much room for it at the start.
pub(super) const HEADER: usize = 12;
/// No record is larger (a group of 512 appends of 16 KiB each is far below).
const MAX_RECORD: usize = 64 * 1024 * 1024;
/// How far ahead of the records a file is written with zeros.
const ZEROED_AHEAD: u64 = 1024 * 1024;

fn checksum(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub struct CommitLog {
    dir: PathBuf,
    file: File,
    generation: u64,
    /// Where the next record goes, and how far the file is zeroed.
    end: u64,
    zeroed: u64,
}

fn name(generation: u64) -> String {
    format!("commits-{generation:016}.log")
}

/// The generations present in `dir`, oldest first.
fn generations(dir: &Path) -> io::Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        if let Some(number) = name.strip_prefix("commits-").and_then(|rest| rest.strip_suffix(".log"))
            && let Ok(generation) = number.parse::<u64>()
        {
            found.push(generation);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The valid records of one file, in order, up to the first torn or damaged one.
fn read_records(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER {
        let length = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&bytes[at + 4..at + HEADER]);
        let start = at + HEADER;
        if length == 0 || length > MAX_RECORD || bytes.len() - start < length {
            break;
        }
        let payload = &bytes[start..start + length];
        if checksum(payload) != u64::from_le_bytes(sum) {
            break;
        }
        records.push(payload.to_vec());
        at = start + length;
    }
    if bytes[at..].iter().any(|byte| *byte != 0) {
        tracing::warn!(file = %path.display(), dropped = bytes.len() - at, "a torn record at the end of the commit log (never acknowledged) was dropped");
    }
    Ok(records)
}

/// Writes `length` zero bytes at `from` and syncs them (blocks and size included).
fn zero(file: &mut File, from: u64, length: u64) -> io::Result<()> {
    let zeros = vec![0u8; 64 * 1024];
    file.seek(SeekFrom::Start(from))?;
    let mut left = length;
    while left > 0 {
        let chunk = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..chunk])?;
        left -= chunk as u64;
    }
    file.sync_all()
}

/// Makes a file's creation or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl CommitLog {
    /// Opens the log in `dir`: returns it (writing a new generation) and every record the earlier
    /// generations hold, oldest first, with those generations (to delete once their records are
    /// filed durably).
    pub fn open(dir: &Path) -> io::Result<(CommitLog, Vec<Vec<u8>>, Vec<u64>)> {
        let earlier = generations(dir)?;
        let mut records = Vec::new();
        for generation in &earlier {
            records.extend(read_records(&dir.join(name(*generation)))?);
        }
        let generation = earlier.last().map_or(1, |last| last + 1);
        let file = Self::create(dir, generation)?;
        Ok((CommitLog { dir: dir.to_path_buf(), file, generation, end: 0, zeroed: ZEROED_AHEAD }, records, earlier))
    }

    /// A new generation's file, zeroed ahead and synced, its name synced in the folder.
    fn create(dir: &Path, generation: u64) -> io::Result<File> {
        let mut file = OpenOptions::new().create_new(true).read(true).write(true).open(dir.join(name(generation)))?;
        zero(&mut file, 0, ZEROED_AHEAD)?;
        sync_dir(dir)?;
        Ok(file)
    }

    /// Appends one record holding `payload` and returns once it is on disk.
    #[cfg(test)]
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut record = vec![0; HEADER];
        record.extend_from_slice(payload);
        self.append_framed(&mut record)
    }

    /// Appends one record and returns once it is on disk: `record` is its payload after `HEADER`
    /// bytes of room, where the header is written, so the payload is never copied.
    pub fn append_framed(&mut self, record: &mut [u8]) -> io::Result<()> {
        let Some(length) = record.len().checked_sub(HEADER) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a record without room for its header"));
        };
        if length > MAX_RECORD {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a commit group too large for the log"));
        }
        let sum = checksum(&record[HEADER..]);
        record[..4].copy_from_slice(&(length as u32).to_le_bytes());
        record[4..HEADER].copy_from_slice(&sum.to_le_bytes());
        let end = self.end + record.len() as u64;
        if end > self.zeroed {
            let ahead = (end - self.zeroed).div_ceil(ZEROED_AHEAD) * ZEROED_AHEAD;
            zero(&mut self.file, self.zeroed, ahead)?;
            self.zeroed += ahead;
        }
        // At its place in the file, without a seek first.
        self.file.write_all_at(record, self.end)?;
        self.file.sync_data()?;
        self.end = end;
        Ok(())
    }

    /// Starts a new generation for the records to come; returns the one just ended.
    pub fn rotate(&mut self) -> io::Result<u64> {
        let next = self.generation + 1;
        self.file = Self::create(&self.dir, next)?;
        (self.end, self.zeroed) = (0, ZEROED_AHEAD);
        Ok(std::mem::replace(&mut self.generation, next))
    }

    /// Deletes generations whose records are all filed durably elsewhere.
    pub fn delete(&self, generations: &[u64]) -> io::Result<()> {
        for generation in generations {
            match std::fs::remove_file(self.dir.join(name(*generation))) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_across_generations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, left, earlier) = CommitLog::open(dir.path()).expect("open");
        assert!(left.is_empty() && earlier.is_empty());
        log.append(b"one").expect("append");
        let ended = log.rotate().expect("rotate");
        log.append(b"two").expect("append");
        log.append(b"three").expect("append");
        drop(log);
        let (_log, left, earlier) = CommitLog::open(dir.path()).expect("reopen");
        assert_eq!(left, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(earlier, [ended, ended + 1]);
    }

    #[test]
    fn a_torn_or_damaged_last_record_is_dropped_and_nothing_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _, _) = CommitLog::open(dir.path()).expect("open");
        log.append(b"kept").expect("append");
        log.append(b"torn away").expect("append");
        drop(log);
        let path = dir.path().join(name(1));
        let mut full = std::fs::read(&path).expect("read");
        // What was written: the zeros ahead of it are not part of it.
        let written = 2 * HEADER + 4 + 9;
        assert!(full[written..].iter().all(|byte| *byte == 0), "the rest is zeros");
        full.truncate(written);
        for cut in [full.len() - 1, full.len() - 9, HEADER + 4 + 3] {
            std::fs::write(&path, &full[..cut]).expect("write");
            assert_eq!(read_records(&path).expect("read"), [b"kept".to_vec()], "cut at {cut}");
        }
        let mut damaged = full.clone();
        let last = damaged.len() - 2;
        damaged[last] ^= 0xff;
        std::fs::write(&path, &damaged).expect("write");
        assert_eq!(read_records(&path).expect("read"), [b"kept".to_vec()]);
    }

    #[test]
    fn deleted_generations_are_gone_and_new_ones_continue_the_numbering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _, _) = CommitLog::open(dir.path()).expect("open");
        log.append(b"a").expect("append");
        let ended = log.rotate().expect("rotate");
        log.delete(&[ended]).expect("delete");
        assert_eq!(generations(dir.path()).expect("list"), [ended + 1]);
        drop(log);
        let (log, left, earlier) = CommitLog::open(dir.path()).expect("reopen");
        assert!(left.is_empty());
        assert_eq!(earlier, [ended + 1]);
        assert_eq!(log.generation, ended + 2);
    }

    #[test]
    fn a_file_is_zeroed_ahead_as_records_reach_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _, _) = CommitLog::open(dir.path()).expect("open");
        let big = vec![b'x'; 700 * 1024];
        log.append(&big).expect("append");
        log.append(&big).expect("append past the first zeroed megabyte");
        let size = std::fs::metadata(dir.path().join(name(1))).expect("stat").len();
        assert_eq!(size, 2 * ZEROED_AHEAD);
        drop(log);
        let (_, left, _) = CommitLog::open(dir.path()).expect("reopen");
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|record| *record == big));
    }
}
