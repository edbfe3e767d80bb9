//! Copying a SQLite database into an empty PostgreSQL one (`crier db migrate-to`):
//! every table crier keeps, in one PostgreSQL transaction, with the ids it had, the
//! sequences moved past them, and the counts of both sides compared before the
//! commit. The SQLite side is read in one read transaction, so it is one snapshot.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::{Dialect, Pg, Pool, Store, StoreError, placeholders};

/// How a column is read from SQLite and bound for PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

use Kind::{Bytes, Int, Text};

/// One table to copy: its name, its columns (the SQLite expression and the
/// PostgreSQL column), and whether its `id` comes from a sequence.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
    /// The column whose sequence must move past the copied values.
    serial: Option<&'static str>,
}

/// Every table, parents before children, as of migration 12. A migration that adds
/// a table or a column adds it here too (a test compares this list with the schema).
const TABLES: &[Table] = &[
    Table {
        name: "subscribers",
        columns: &[
            ("id", "id", Int),
            ("email", "email", Text),
            ("name", "name", Text),
            ("status", "status", Text),
            ("frequency", "frequency", Text),
            ("timezone", "timezone", Text),
            ("created_at", "created_at", Int),
            ("confirmed_at", "confirmed_at", Int),
            ("unsubscribed_at", "unsubscribed_at", Int),
            ("consent_at", "consent_at", Int),
            ("consent_source", "consent_source", Text),
            ("consent_ip", "consent_ip", Text),
            ("consent_user_agent", "consent_user_agent", Text),
            ("consent_text_version", "consent_text_version", Text),
            ("confirm_ip", "confirm_ip", Text),
            ("confirm_user_agent", "confirm_user_agent", Text),
            ("confirmation_sent_at", "confirmation_sent_at", Int),
            ("updated_at", "updated_at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "subscriber_audiences",
        columns: &[
            ("subscriber_id", "subscriber_id", Int),
            ("audience", "audience", Text),
        ],
        serial: None,
    },
    Table {
        name: "signups",
        columns: &[
            ("subscriber_id", "subscriber_id", Int),
            ("name", "name", Text),
            ("audiences", "audiences", Text),
            ("frequency", "frequency", Text),
            ("timezone", "timezone", Text),
            ("consent_at", "consent_at", Int),
            ("consent_source", "consent_source", Text),
            ("consent_ip", "consent_ip", Text),
            ("consent_user_agent", "consent_user_agent", Text),
            ("consent_text_version", "consent_text_version", Text),
            ("created_at", "created_at", Int),
        ],
        serial: None,
    },
    Table {
        name: "suppressions",
        columns: &[
            ("email_hash", "email_hash", Text),
            ("reason", "reason", Text),
            ("created_at", "created_at", Int),
            // The list's order and pages: SQLite's rowid.
            ("rowid", "position", Int),
        ],
        serial: Some("position"),
    },
    Table {
        name: "events",
        columns: &[
            ("id", "id", Int),
            ("subscriber_id", "subscriber_id", Int),
            ("email_hash", "email_hash", Text),
            ("kind", "kind", Text),
            ("detail", "detail", Text),
            ("at", "at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "contents",
        columns: &[
            ("id", "id", Int),
            ("digest", "digest", Text),
            ("subject", "subject", Text),
            ("text_body", "text_body", Text),
            ("html_body", "html_body", Text),
            ("created_at", "created_at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", "id", Int),
            ("dedup_key", "dedup_key", Text),
            ("kind", "kind", Text),
            ("subscriber_id", "subscriber_id", Int),
            ("recipient", "recipient", Text),
            ("content_id", "content_id", Int),
            ("vars", "vars", Text),
            ("message_id", "message_id", Text),
            ("status", "status", Text),
            ("attempts", "attempts", Int),
            ("created_at", "created_at", Int),
            ("next_attempt_at", "next_attempt_at", Int),
            ("lease_until", "lease_until", Int),
            ("sent_at", "sent_at", Int),
            ("last_error", "last_error", Text),
            ("digest", "digest", Text),
            ("period", "period", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "articles_seen",
        columns: &[("slug", "slug", Text), ("first_seen", "first_seen", Int)],
        serial: None,
    },
    Table {
        name: "admins",
        columns: &[
            ("id", "id", Int),
            ("email", "email", Text),
            ("password_hash", "password_hash", Text),
            ("created_at", "created_at", Int),
            ("password_changed_at", "password_changed_at", Int),
        ],
        serial: Some("id"),
    },
    Table {
        name: "admin_sessions",
        columns: &[
            ("id_hash", "id_hash", Bytes),
            ("admin_id", "admin_id", Int),
            ("csrf", "csrf", Text),
            ("created_at", "created_at", Int),
            ("last_seen", "last_seen", Int),
        ],
        serial: None,
    },
    Table {
        name: "bounce_events",
        columns: &[
            ("id", "id", Int),
            ("subscriber_id", "subscriber_id", Int),
            ("outbox_id", "outbox_id", Int),
            ("email_hash", "email_hash", Text),
            ("kind", "kind", Text),
            ("source", "source", Text),
            ("status_code", "status_code", Text),
            ("reason", "reason", Text),
            ("action", "action", Text),
            ("sent_at", "sent_at", Int),
            ("at", "at", Int),
        ],
        serial: Some("id"),
    },
];

/// PostgreSQL takes at most 65,535 bound values a statement.
const MAX_BINDS: usize = 65_535;

/// Rows a copy statement carries: 500, or fewer for wide tables.
fn rows_per_insert(columns: usize) -> usize {
    (MAX_BINDS / columns).min(500)
}

/// One value read from SQLite, to be bound for PostgreSQL.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// How many rows of each table a copy moved, in the order copied: the counts read
/// back from PostgreSQL, which matched SQLite's before the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64)>,
    /// Whether the SQLite database's secret was stored as the shared one.
    pub secret: bool,
}

impl Store {
    /// Copies this SQLite database into the PostgreSQL database at `url`, which must
    /// hold no crier data (its schema is made when missing). `secret`, the SQLite
    /// database's generated secret when there is one, becomes the shared secret, so
    /// that links already mailed keep working. All of it lands in one transaction,
    /// or nothing does.
    pub async fn copy_to_postgres(
        &self,
        url: &str,
        secret: Option<&str>,
    ) -> Result<Copied, StoreError> {
        let Pool::Sqlite(source) = &self.pool else {
            return Err(StoreError::Copy(
                "the database to copy from must be SQLite".into(),
            ));
        };
        // The schema first, under the migration lock; no state folder is needed.
        let target = Store::postgres(url, std::path::PathBuf::new()).await?;
        let Pool::Postgres(pool) = &target.pool else {
            unreachable!("a PostgreSQL store")
        };
        let result = copy(source, pool, secret).await;
        target.close().await;
        result
    }
}

async fn copy(
    source: &SqlitePool,
    target: &PgPool,
    secret: Option<&str>,
) -> Result<Copied, StoreError> {
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
        let taken: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(target)
            .await?;
        if taken {
            return Err(StoreError::Copy(format!(
                "the PostgreSQL database is not empty: its table {} has rows; copy into a new, empty database",
                table.name
            )));
        }
    }
    // One snapshot of the source: a read transaction over every table.
    let mut read = source.begin().await?;
    let mut tx = target.begin().await?;
    let mut copied = Copied::default();
    for table in TABLES {
        let select: Vec<&str> = table.columns.iter().map(|(expr, _, _)| *expr).collect();
        let into: Vec<&str> = table.columns.iter().map(|(_, column, _)| *column).collect();
        let order = if table.name == "suppressions" {
            "rowid"
        } else {
            "1"
        };
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {order}",
            select.join(", "),
            table.name
        );
        let per_insert = rows_per_insert(table.columns.len());
        let group = format!("({})", placeholders("?", table.columns.len()));
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
        let mut source_rows = 0u64;
        {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *read);
            while let Some(row) = rows.try_next().await? {
                let mut values = Vec::with_capacity(table.columns.len());
                for (index, (_, _, kind)) in table.columns.iter().enumerate() {
                    values.push(match kind {
                        Int => Value::Int(row.try_get(index)?),
                        Text => Value::Text(row.try_get(index)?),
                        Bytes => Value::Bytes(row.try_get(index)?),
                    });
                }
                batch.push(values);
                source_rows += 1;
                if batch.len() == per_insert {
                    insert(&mut tx, table.name, &into, &group, &mut batch).await?;
                }
            }
        }
        insert(&mut tx, table.name, &into, &group, &mut batch).await?;
        let sql = format!("SELECT count(*) FROM {}", table.name);
        let target_rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await?;
        if target_rows as u64 != source_rows {
            return Err(StoreError::Copy(format!(
                "{}: {source_rows} rows read but {target_rows} written; nothing was copied",
                table.name
            )));
        }
        if let Some(column) = table.serial {
            // The next value past the largest copied (1 for an empty table).
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{name}', '{column}'), \
                 coalesce(max({column}), 0) + 1, false) FROM {name}",
                name = table.name
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        copied.tables.push((table.name, source_rows));
    }
    if let Some(secret) = secret {
        sqlx::query(
            "INSERT INTO crier_settings (name, value) VALUES ('secret', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(secret)
        .execute(&mut *tx)
        .await?;
        copied.secret = true;
    }
    tx.commit().await?;
    read.commit().await?;
    Ok(copied)
}

/// Writes and empties `batch`: one multi-row INSERT.
async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
    columns: &[&str],
    group: &str,
    batch: &mut Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        placeholders(group, batch.len())
    );
    let mut query = Pg.query(sql);
    for row in batch.drain(..) {
        for value in row {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
            };
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_and_column_of_the_schema_is_copied() {
        let schema = super::super::migrations::POSTGRES[0];
        let mut tables = Vec::new();
        let mut current: Option<(String, Vec<String>)> = None;
        for line in schema.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                current = Some((name.to_string(), Vec::new()));
            } else if line.starts_with(");") {
                tables.extend(current.take());
            } else if let Some((_, columns)) = current.as_mut() {
                let word = line.split_whitespace().next().unwrap_or_default();
                if !word.is_empty() && word != "PRIMARY" {
                    columns.push(word.to_string());
                }
            }
        }
        let copied: Vec<(String, Vec<String>)> = TABLES
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.columns.iter().map(|c| c.1.to_string()).collect(),
                )
            })
            .collect();
        let mut expected: Vec<(String, Vec<String>)> = tables
            .into_iter()
            .filter(|(name, _)| name != "crier_settings")
            .collect();
        let mut got = copied;
        for list in [&mut expected, &mut got] {
            for (_, columns) in list.iter_mut() {
                columns.sort();
            }
            list.sort();
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn wide_tables_stay_under_the_bind_limit() {
        for table in TABLES {
            let n = rows_per_insert(table.columns.len());
            assert!(n * table.columns.len() <= MAX_BINDS, "{}", table.name);
            assert!(n >= 1);
        }
    }
}
