//! The sent journal: where the delivery worker first records that a message went out,
//! ahead of the database.
//!
//! Recording each send in SQLite took a commit (a few pages written to the WAL, and
//! later checkpointed) for every one or two messages, and a sender waits for its
//! previous message's record before it hands over the next message. The journal makes
//! that record one `write` of a short line to `<database>.sent`. The worker moves
//! the records into the outbox table in large batches ([`Store::mark_sent_at`]) and
//! empties the journal once everything in it is there. Opening the journal
//! ([`Store::sent_journal`]) first moves in whatever an earlier process left behind,
//! so a crash loses no record.
//!
//! Durability is the database's own: no fsync, like `synchronous = NORMAL` in WAL
//! mode. A record survives the process being killed, not the machine losing power.
//! Moving a record in twice does no harm: a sent row stays sent and ids are never
//! reused.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_secs};

/// The worker's journal of sent messages; see the module documentation.
#[derive(Debug)]
pub struct SentJournal {
    path: PathBuf,
    file: File,
}

impl SentJournal {
    /// Appends records in one write: `<outbox id> <unix seconds>` a line. Once this
    /// returns, the records outlive the process. The write is a few hundred bytes into
    /// the page cache and is made in place, even on an async thread: handing it to a
    /// blocking thread would cost more than the write itself.
    pub fn append(&mut self, records: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(records.len() * 20);
        for (id, at) in records {
            // Writing into a Vec cannot fail.
            let _ = writeln!(lines, "{id} {}", at.timestamp());
        }
        self.file
            .write_all(&lines)
            .map_err(|e| journal_error(&self.path, e))
    }

    /// Empties the journal; call it only once every record in it is in the database.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .map_err(|e| journal_error(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn journal_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Journal {
        path: path.display().to_string(),
        source,
    }
}

/// The records of a journal's text, and a message for each line that is not one. A
/// last line without its line end is the write a crash cut short: it is left out
/// silently, since that message's sender never saw it recorded.
fn parse(text: &str) -> (Vec<(i64, DateTime<Utc>)>, Vec<String>) {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (number, line) in complete.lines().enumerate() {
        let mut fields = line.split(' ');
        let parsed = match (fields.next(), fields.next(), fields.next()) {
            (Some(id), Some(secs), None) => id.parse::<i64>().ok().zip(secs.parse::<i64>().ok()),
            _ => None,
        };
        match parsed {
            Some((id, secs)) => records.push((id, from_secs(secs))),
            None => bad.push(format!(
                "line {}: `{}` is not `<outbox id> <unix seconds>`; skipped",
                number + 1,
                line.chars().take(60).collect::<String>()
            )),
        }
    }
    (records, bad)
}

/// The journal beside a database file: `crier.db` keeps `crier.db.sent`.
fn journal_path(database: &Path) -> PathBuf {
    super::beside(database, ".sent")
}

impl Store {
    /// Opens the sent journal, after moving into the outbox whatever an earlier
    /// process recorded there and did not move itself (it was killed, or the
    /// database was unavailable). One worker at a time may hold it.
    pub async fn sent_journal(&self) -> Result<SentJournal, StoreError> {
        let path = journal_path(&self.path);
        // Private, as the database: it holds subscriber ids and message ids.
        let mut file = super::private_file_options()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| journal_error(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| journal_error(&path, e))?;
        let (records, bad) = parse(&String::from_utf8_lossy(&bytes));
        for problem in &bad {
            tracing::warn!(journal = %path.display(), "{problem}");
        }
        if !records.is_empty() {
            self.mark_sent_at(&records).await?;
            tracing::info!(
                journal = %path.display(),
                messages = records.len(),
                "recorded as sent what the last run had only in its journal"
            );
        }
        let mut journal = SentJournal { path, file };
        journal.clear()?;
        Ok(journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_only_and_bad_ones_named() {
        let (records, bad) = parse("7 1764000000\n8 1764000001\nnine 5\n10 1764000002\n11 17");
        let ids: Vec<i64> = records.iter().map(|r| r.0).collect();
        assert_eq!(ids, [7, 8, 10], "the cut-short last line is left out");
        assert_eq!(records[1].1.timestamp(), 1_764_000_001);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].starts_with("line 3: `nine 5`"), "{bad:?}");

        assert_eq!(parse(""), (Vec::new(), Vec::new()));
        assert_eq!(parse("12"), (Vec::new(), Vec::new()));
        let (_, bad) = parse("1 2 3\n\n");
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn the_journal_sits_beside_the_database() {
        assert_eq!(
            journal_path(Path::new("/var/lib/crier/crier.db")),
            Path::new("/var/lib/crier/crier.db.sent")
        );
        assert_eq!(journal_path(Path::new("c.db")), Path::new("c.db.sent"));
    }
}
