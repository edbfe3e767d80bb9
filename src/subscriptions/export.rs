//! The CSV export of the list, written for spreadsheets: a cell a spreadsheet would
//! run as a formula is written so that it shows as text. The JSON export is the data
//! as it is and is written elsewhere.

use std::borrow::Cow;
use std::io::Write;

use crate::model::Subscriber;

const COLUMNS: [&str; 9] = [
    "email",
    "name",
    "audiences",
    "frequency",
    "timezone",
    "status",
    "created_at",
    "confirmed_at",
    "consent_source",
];

/// Writes `subscribers` as CSV with a header row, every cell through
/// [`spreadsheet_safe`].
pub fn write_csv(out: impl Write, subscribers: &[Subscriber]) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(COLUMNS)?;
    for s in subscribers {
        let cells = [
            s.email.clone(),
            s.name.clone().unwrap_or_default(),
            s.audiences.join(";"),
            s.frequency.clone(),
            s.timezone.clone(),
            s.status.as_str().to_string(),
            s.created_at.to_rfc3339(),
            s.confirmed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.consent.source.as_str().to_string(),
        ];
        csv.write_record(cells.iter().map(|cell| spreadsheet_safe(cell).into_owned()))?;
    }
    csv.flush()?;
    Ok(())
}

/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, which
/// spreadsheets take for a formula (and may run: `=HYPERLINK(…)`, `=cmd|…`), gets a
/// leading `'`, which makes it text. Every column goes through here: an address may
/// start with `=` or `-` as well as a name.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_become_text() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Ada", "Ada"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), safe, "{cell:?}");
        }
    }
}
