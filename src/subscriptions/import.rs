//! CSV import: `email,name,audiences,frequency,timezone`, audiences separated by `;`.
//! Every bad row is reported with its line (the header is line 1); the good rows are
//! imported in one transaction.

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;

use super::{Request, SubscriptionError, Subscriptions};
use crate::model::{Source, Status};

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
    pub errors: Vec<RowError>,
}

const COLUMNS: [&str; 5] = ["email", "name", "audiences", "frequency", "timezone"];

impl Subscriptions {
    /// Imports a CSV. `active` skips double opt-in (the consent source is `import`);
    /// otherwise new subscribers are pending and get a confirmation email.
    /// `progress` is called with the number of rows read so far.
    pub async fn import_csv(
        &self,
        input: impl Read,
        active: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, SubscriptionError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let mut report = ImportReport::default();
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| {
                SubscriptionError::Invalid(vec![format!("line 1: cannot read the header: {e}")])
            })?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let column = |name: &str| headers.iter().position(|h| h == name);
        if column("email").is_none() {
            return Err(SubscriptionError::Invalid(vec![format!(
                "line 1: the header must name the columns {}; found `{}`",
                COLUMNS.join(","),
                headers.join(",")
            )]));
        }
        if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
            return Err(SubscriptionError::Invalid(vec![format!(
                "line 1: unknown column `{unknown}` (the columns are {})",
                COLUMNS.join(",")
            )]));
        }
        let status = if active {
            Status::Active
        } else {
            Status::Pending
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for record in reader.records() {
            report.rows += 1;
            if report.rows % 1000 == 0 {
                progress(report.rows);
            }
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    let line = e.position().map_or(report.rows + 1, |p| p.line());
                    report.errors.push(RowError {
                        line,
                        message: format!("cannot read the row: {e}"),
                    });
                    continue;
                }
            };
            let line = record.position().map_or(report.rows + 1, |p| p.line());
            let field = |name: &str| {
                column(name)
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
                        continue;
                    }
                    rows.push(new);
                    lines.push(line);
                }
                Err(SubscriptionError::Invalid(problems)) => {
                    report.errors.push(RowError {
                        line,
                        message: problems.join("; "),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        progress(report.rows);
        let outcome = self.store.import_subscribers(&rows, self.now()).await?;
        for index in outcome.suppressed {
            report.errors.push(RowError {
                line: lines[index],
                message: format!(
                    "{} unsubscribed or was erased; only a new sign-up with confirmation can bring it back",
                    rows[index].email
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
