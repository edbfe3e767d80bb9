//! CSV import: `email,name,audiences,frequency,timezone`, audiences separated by `;`.
//! Columns are found by their header name; other columns are left out and named in
//! the report, so a file exported from another tool imports as it is.
//! Every bad row is reported with its line (the header is line 1; CRLF, LF and CR
//! each end a line), a row with more fields than the header included; the good rows
//! are imported in one transaction. A quote that is never closed swallows the rest of
//! the file into one field, so its row is reported and the lines after it are read
//! again as rows.

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;

use super::{Request, SubscriptionError, Subscriptions};
use crate::model::{Source, Status};
use crate::store::{NewSubscriber, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Confirmation emails queued (imports without `--active`).
    pub confirmations: u64,
    /// Header columns that are none of [`COLUMNS`], left out of the import.
    pub ignored_columns: Vec<String>,
    pub errors: Vec<RowError>,
}

/// The columns an import reads, by header name (any order, any case); only `email`
/// must be there. Other columns are left out and named in the report.
pub const COLUMNS: [&str; 5] = ["email", "name", "audiences", "frequency", "timezone"];

/// Which column of a file holds what, as the importer reads the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// The header's names, trimmed and lowercased, in file order.
    pub headers: Vec<String>,
    /// For each of [`COLUMNS`], in that order: the index of the first column with
    /// that name, if any.
    pub fields: Vec<(&'static str, Option<usize>)>,
    /// Header names that are not a column the importer reads.
    pub ignored: Vec<String>,
}

impl Mapping {
    /// Reads a header; a header without an `email` column is refused.
    pub fn of(headers: &[String]) -> Result<Mapping, SubscriptionError> {
        let fields: Vec<(&'static str, Option<usize>)> = COLUMNS
            .iter()
            .map(|&name| (name, headers.iter().position(|h| h == name)))
            .collect();
        if fields[0].1.is_none() {
            return Err(SubscriptionError::Invalid(vec![format!(
                "line 1: the header must name an email column (the columns read are {}); found `{}`",
                COLUMNS.join(","),
                headers.join(",")
            )]));
        }
        let ignored = headers
            .iter()
            .enumerate()
            .filter(|&(i, _)| !fields.iter().any(|&(_, at)| at == Some(i)))
            .map(|(_, h)| h.clone())
            .collect();
        Ok(Mapping {
            headers: headers.to_vec(),
            fields,
            ignored,
        })
    }

    /// The index of the column the importer reads `name` from.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .find(|&&(field, _)| field == name)
            .and_then(|&(_, at)| at)
    }

    /// What the importer does with the column at `index`: the field it fills, or
    /// `None` when it is ignored.
    pub fn field_of(&self, index: usize) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|&&(_, at)| at == Some(index))
            .map(|&(field, _)| field)
    }
}

/// The start of a file as the importer will read it, for a look before importing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub mapping: Mapping,
    /// The first rows, as their fields read (at most the number asked for).
    pub rows: Vec<Vec<String>>,
    /// How many rows follow the header (a quote left open can make the import count
    /// a few more).
    pub total: u64,
}

/// Reads the header and the first `first` rows of a CSV, and counts its rows, the
/// way [`Subscriptions::import_csv`] will read them.
pub fn preview_csv(text: &[u8], first: usize) -> Result<Preview, SubscriptionError> {
    let mut csv = reader(text);
    let mut record = csv::StringRecord::new();
    let headers = read_header(&mut csv, &mut record)?;
    let mapping = Mapping::of(&headers)?;
    let mut rows = Vec::new();
    let mut total = 0;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                if rows.len() < first {
                    rows.push(record.iter().map(str::to_string).collect());
                }
            }
            // The import reports the row; the preview only counts it.
            Err(_) => {}
        }
        total += 1;
    }
    Ok(Preview {
        mapping,
        rows,
        total,
    })
}

/// The CSV reader the importer uses: no header handling of its own, rows of any
/// length, fields trimmed.
fn reader(text: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text)
}

/// The header's column names, trimmed, lowercased and without a byte order mark.
fn read_header(
    csv: &mut csv::Reader<&[u8]>,
    record: &mut csv::StringRecord,
) -> Result<Vec<String>, SubscriptionError> {
    let read = csv.read_record(record).map_err(|e| {
        SubscriptionError::Invalid(vec![format!("line 1: cannot read the header: {e}")])
    })?;
    Ok(if read {
        record
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect()
    } else {
        Vec::new()
    })
}

impl Subscriptions {
    /// Imports a CSV. `active` skips double opt-in (the consent source is `import`);
    /// otherwise new subscribers are pending and get a confirmation email.
    /// `progress` is called with the number of rows read so far.
    pub async fn import_csv(
        &self,
        mut input: impl Read,
        active: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, SubscriptionError> {
        // In memory whole: line numbers come from byte offsets, and the rows after a
        // broken quote are read again from the text.
        let mut text = Vec::new();
        input
            .read_to_end(&mut text)
            .map_err(|e| SubscriptionError::Invalid(vec![format!("cannot read the file: {e}")]))?;
        let lines = Lines::new(&text);
        let mut report = ImportReport::default();
        let mut header = reader(&text);
        let mut record = csv::StringRecord::new();
        let headers = read_header(&mut header, &mut record)?;
        let mut from = header.position().byte() as usize;
        let mapping = Mapping::of(&headers)?;
        report.ignored_columns = mapping.ignored.clone();
        let status = if active {
            Status::Active
        } else {
            Status::Pending
        };
        // The rows go to the store in batches while the next are read: the database
        // writes one batch (on its own thread, or its own server) while this thread
        // checks the next. A failure on either side drops the import uncommitted.
        let (batches, mut received) = tokio::sync::mpsc::channel::<Vec<NewSubscriber>>(2);
        let now = self.now();
        let store = &self.store;
        let write = async move {
            let mut import = store.begin_import(now).await?;
            while let Some(batch) = received.recv().await {
                import.add(&batch).await?;
            }
            Ok::<_, StoreError>(import)
        };
        let (text, lines, headers, mapping) = (&text[..], &lines, &headers[..], &mapping);
        let read = async move {
            // The line and address of each row handed over, by its index in the import.
            let mut row_lines: Vec<u64> = Vec::new();
            let mut row_emails: Vec<String> = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            let mut seen: HashMap<String, u64> = HashMap::new();
            // Each pass reads from `from` to the end, or to a row with a broken quote;
            // the next pass starts on the line after that quote.
            loop {
                let mut csv = reader(&text[from..]);
                let mut restart = None;
                let at = Reading {
                    text,
                    lines,
                    from,
                    headers,
                    mapping,
                    status,
                    progress,
                };
                loop {
                    let more = self.read_row(
                        &mut csv,
                        &mut record,
                        &at,
                        &mut report,
                        &mut seen,
                        &mut restart,
                    )?;
                    match more {
                        Row::End => break,
                        Row::Skipped => {}
                        Row::Good(new, line) => {
                            row_lines.push(line);
                            row_emails.push(new.email.clone());
                            batch.push(new);
                        }
                    }
                    if batch.len() == BATCH {
                        if batches.send(std::mem::take(&mut batch)).await.is_err() {
                            // The store failed; its error is the answer.
                            return Ok((report, row_lines, row_emails));
                        }
                        // Let the store start on it before reading on.
                        tokio::task::yield_now().await;
                        batch.reserve(BATCH);
                    }
                }
                match restart {
                    Some(next) => from = next,
                    None => break,
                }
            }
            if !batch.is_empty() {
                let _ = batches.send(batch).await;
            }
            drop(batches);
            Ok::<_, SubscriptionError>((report, row_lines, row_emails))
        };
        let (written, read) = tokio::join!(write, read);
        let import = written?;
        let (mut report, row_lines, row_emails) = read?;
        progress(report.rows);
        let outcome = import.finish().await?;
        for index in outcome.suppressed {
            report.errors.push(RowError {
                line: row_lines[index],
                message: format!(
                    "{} unsubscribed or was erased; only a new sign-up with confirmation can bring it back",
                    row_emails[index]
                ),
            });
        }
        report.errors.sort_by_key(|e| e.line);
        report.created = outcome.created.len() as u64;
        report.updated = outcome.updated as u64;
        if !active {
            report.confirmations = self.send_confirmations(&outcome.created).await? as u64;
        }
        Ok(report)
    }
}

/// Rows handed to the store at a time: large enough that a batch is a few of its
/// statements, small enough that the store starts early.
const BATCH: usize = 2_000;

/// What reading a row needs besides the reader: the file and its header.
struct Reading<'a> {
    text: &'a [u8],
    lines: &'a Lines,
    /// Where the current pass's reader started in `text`.
    from: usize,
    headers: &'a [String],
    mapping: &'a Mapping,
    status: Status,
    progress: &'a (dyn Fn(u64) + Sync),
}

/// What one read gave. Returned and matched at once, never stored: boxing the large
/// variant would cost an allocation a row.
#[allow(clippy::large_enum_variant)]
enum Row {
    /// The end of this pass: of the file, or at a quote never closed (`restart` then
    /// says where the next pass starts).
    End,
    /// A bad row, reported.
    Skipped,
    /// A good row and its line.
    Good(NewSubscriber, u64),
}

impl Subscriptions {
    /// Reads and checks the next row of `csv`: bad rows go into the report by line.
    fn read_row(
        &self,
        csv: &mut csv::Reader<&[u8]>,
        record: &mut csv::StringRecord,
        at: &Reading<'_>,
        report: &mut ImportReport,
        seen: &mut HashMap<String, u64>,
        restart: &mut Option<usize>,
    ) -> Result<Row, SubscriptionError> {
        let Reading {
            text,
            lines,
            from,
            headers,
            mapping,
            status,
            progress,
        } = *at;
        let start = from + csv.position().byte() as usize;
        let result = csv.read_record(record);
        if matches!(result, Ok(false)) {
            return Ok(Row::End);
        }
        report.rows += 1;
        if report.rows.is_multiple_of(1000) {
            progress(report.rows);
        }
        if let Err(e) = result {
            let at = e.position().map_or(start, |p| from + p.byte() as usize);
            let at = past_line_ends(text, at);
            report.errors.push(RowError {
                line: lines.line(at),
                message: format!("cannot read the row: {e}"),
            });
            return Ok(Row::Skipped);
        }
        let start = past_line_ends(
            text,
            record
                .position()
                .map_or(start, |p| from + p.byte() as usize),
        );
        let end = (from + csv.position().byte() as usize).max(start);
        if let Some(quote) = broken_quote(&text[start..end]) {
            let quote = start + quote;
            report.errors.push(RowError {
                line: lines.line(quote),
                message: "a quote opens a field here and is never closed; the \
                          lines after this one are read as rows of their own"
                    .into(),
            });
            *restart = Some(lines.next_line_start(quote));
            return Ok(Row::End);
        }
        let line = lines.line(start);
        if record.len() > headers.len() {
            report.errors.push(RowError {
                line,
                message: format!(
                    "the row has {} fields, but the header names {}",
                    record.len(),
                    headers.len()
                ),
            });
            return Ok(Row::Skipped);
        }
        let field = |name: &str| {
            mapping
                .column(name)
                .and_then(|i| record.get(i))
                .map(str::to_string)
                .filter(|v| !v.is_empty())
        };
        let request = Request {
            email: field("email").unwrap_or_default(),
            name: field("name"),
            audiences: field("audiences")
                .map(|a| a.split(';').map(str::to_string).collect())
                .unwrap_or_default(),
            frequency: field("frequency"),
            timezone: field("timezone"),
            source: Some(Source::Import),
            ..Request::default()
        };
        match self.check(&request, status) {
            Ok(new) => {
                if let Some(first) = seen.insert(new.email.clone(), line) {
                    report.errors.push(RowError {
                        line,
                        message: format!("{} already appears on line {first}", new.email),
                    });
                    return Ok(Row::Skipped);
                }
                Ok(Row::Good(new, line))
            }
            Err(SubscriptionError::Invalid(problems)) => {
                report.errors.push(RowError {
                    line,
                    message: problems.join("; "),
                });
                Ok(Row::Skipped)
            }
            Err(other) => Err(other),
        }
    }
}

/// The first byte at or after `at` that does not end a line. With CRLF, the reader
/// says a record starts at the LF that ended the line before it.
fn past_line_ends(text: &[u8], at: usize) -> usize {
    at + text[at..]
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Where each line of a text starts. CRLF, a lone LF and a lone CR each end a line,
/// as they end a CSV record.
struct Lines {
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    fn new(text: &[u8]) -> Lines {
        let mut starts = vec![0];
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\r' if text.get(i + 1) == Some(&b'\n') => {
                    i += 2;
                    starts.push(i);
                }
                b'\r' | b'\n' => {
                    i += 1;
                    starts.push(i);
                }
                _ => i += 1,
            }
        }
        Lines {
            starts,
            len: text.len(),
        }
    }

    /// The 1-based line of the byte at `offset`.
    fn line(&self, offset: usize) -> u64 {
        self.starts.partition_point(|&s| s <= offset) as u64
    }

    /// Where the line after the one holding `offset` starts (the end, on the last).
    fn next_line_start(&self, offset: usize) -> usize {
        let line = self.starts.partition_point(|&s| s <= offset);
        self.starts.get(line).copied().unwrap_or(self.len)
    }
}

/// The offset in `raw` (one record's bytes as the CSV reader took them) of a quote
/// that opens a field and is not closed as CSV closes one: never, or only on a later
/// line and with more text straight after it, which is a quote left open that a later
/// quote happened to pair with. A quote counts only at the start of a field, as the
/// reader counts it; `""` inside quotes is a quote character.
fn broken_quote(raw: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut field_start = true;
    while i < raw.len() {
        if field_start && raw[i] == b'"' {
            let open = i;
            let mut spans_lines = false;
            i += 1;
            loop {
                match raw.get(i) {
                    None => return Some(open),
                    Some(b'"') if raw.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\n' | b'\r') => {
                        spans_lines = true;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            if spans_lines && !matches!(raw.get(i), None | Some(b',' | b'\n' | b'\r')) {
                return Some(open);
            }
            field_start = false;
            continue;
        }
        field_start = raw[i] == b',';
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_reads_the_header_as_the_import_does() {
        let csv = "\u{feff}Name,EMAIL,uuid,timezone,email\n\
                   Ada,ada@example.org,1,UTC,x\n\
                   \"Doe, Jane\",jane@example.org,2,,y\n\
                   Bob,bob@example.org,3,UTC,z\n";
        let preview = preview_csv(csv.as_bytes(), 2).unwrap();
        let mapping = &preview.mapping;
        assert_eq!(
            mapping.headers,
            ["name", "email", "uuid", "timezone", "email"]
        );
        assert_eq!(
            mapping.fields,
            [
                ("email", Some(1)),
                ("name", Some(0)),
                ("audiences", None),
                ("frequency", None),
                ("timezone", Some(3))
            ]
        );
        // The second `email` column is not read either.
        assert_eq!(mapping.ignored, ["uuid", "email"]);
        assert_eq!(mapping.field_of(4), None);
        assert_eq!(preview.total, 3);
        assert_eq!(preview.rows.len(), 2);
        assert_eq!(preview.rows[1][0], "Doe, Jane");

        let err = preview_csv(b"mail,name\nx@example.org,X\n", 5).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn lines_end_at_crlf_lf_and_cr() {
        let lines = Lines::new(b"a\r\nb\nc\rd");
        assert_eq!(
            [0, 1, 3, 4, 5, 6, 7].map(|at| lines.line(at)),
            [1, 1, 2, 2, 3, 3, 4]
        );
        assert_eq!(lines.next_line_start(0), 3);
        assert_eq!(lines.next_line_start(7), 8);
    }

    #[test]
    fn quotes_left_open_are_found() {
        assert_eq!(broken_quote(b"a,\"b\"\"c\",d\r\n"), None);
        assert_eq!(broken_quote(b"a,\"two\r\nlines\",d\r\n"), None);
        assert_eq!(
            broken_quote(b"a,b\"c,d\n"),
            None,
            "a quote inside a field is text"
        );
        assert_eq!(broken_quote(b"a,\"open\nb,c\n"), Some(2));
        assert_eq!(broken_quote(b"a,\"open\nb,\"c\"\n"), Some(2));
        assert_eq!(broken_quote(b"\"x\""), None);
    }
}
