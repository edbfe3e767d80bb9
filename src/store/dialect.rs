//! What differs between the two backends at the level of one statement: how its text
//! is prepared (placeholders), and how a column is read. Everything above it is one
//! block of sqlx code compiled once per backend (see `with_pool!`).

use std::borrow::Cow;

use sqlx::query::{Query, QueryScalar};
use sqlx::{Database, Decode, FromRow, Postgres, Row, SqlSafeStr, SqlStr, Sqlite, Type};

use super::{ROWS_PER_STATEMENT, SHORT_STATEMENT};

/// One backend's SQL. SQLite takes crier's statements as written (`?` and `?N`
/// placeholders); PostgreSQL gets them with the placeholders numbered `$N`.
pub(crate) trait Dialect: Copy + Send + Sync + 'static {
    type Db: Database + sqlx::database::HasStatementCache;
    /// Whether this is PostgreSQL.
    const POSTGRES: bool;

    /// The statement text for this backend.
    fn sql(self, text: impl Into<Cow<'static, str>>) -> SqlStr;

    /// `sqlite` on SQLite, `postgres` on PostgreSQL: where the dialects differ.
    fn pick<T>(self, sqlite: T, postgres: T) -> T {
        if Self::POSTGRES { postgres } else { sqlite }
    }

    fn query<'q>(
        self,
        text: impl Into<Cow<'static, str>>,
    ) -> Query<'q, Self::Db, <Self::Db as Database>::Arguments> {
        sqlx::query(self.sql(text))
    }

    fn scalar<'q, O>(
        self,
        text: impl Into<Cow<'static, str>>,
    ) -> QueryScalar<'q, Self::Db, O, <Self::Db as Database>::Arguments>
    where
        (O,): for<'r> FromRow<'r, <Self::Db as Database>::Row>,
    {
        sqlx::query_scalar(self.sql(text))
    }

    /// A statement over `rows` rows of placeholders. sqlx keeps every distinct SQL
    /// text prepared in the connection's cache, and the row count is part of the
    /// text. So a large job that leaves an odd-sized last batch in each of its chunks
    /// would fill the cache with big statements (one of 500 rows holds several MB).
    /// Only full batches and short statements, such as a group commit of a few ids,
    /// are kept.
    fn multi<'q>(
        self,
        text: String,
        rows: usize,
    ) -> Query<'q, Self::Db, <Self::Db as Database>::Arguments> {
        self.query(text)
            .persistent(rows == ROWS_PER_STATEMENT || rows <= SHORT_STATEMENT)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Lite;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pg;

impl Dialect for Lite {
    type Db = Sqlite;
    const POSTGRES: bool = false;

    fn sql(self, text: impl Into<Cow<'static, str>>) -> SqlStr {
        sqlx::AssertSqlSafe(text.into()).into_sql_str()
    }
}

impl Dialect for Pg {
    type Db = Postgres;
    const POSTGRES: bool = true;

    fn sql(self, text: impl Into<Cow<'static, str>>) -> SqlStr {
        sqlx::AssertSqlSafe(numbered(&text.into())).into_sql_str()
    }
}

/// `sql` with SQLite's placeholders written as PostgreSQL's: `?N` becomes `$N`, and
/// a bare `?` takes the number after the largest used so far, as SQLite numbers it.
/// Quoted text ('…' and "…") is left as it is.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut largest = 0u32;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    largest + 1
                } else {
                    digits.parse().unwrap_or(largest + 1)
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// A value either backend can read from a column.
pub(crate) trait Value:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Value for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A row of either backend, read by column name: what the functions that turn rows
/// into model types take.
pub(crate) trait Get {
    fn get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl Get for sqlx::sqlite::SqliteRow {
    fn get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.try_get(column)
    }
}

impl Get for sqlx::postgres::PgRow {
    fn get<T: Value>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.try_get(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(
            numbered("x = ?1 OR y < ?1 LIMIT ?2"),
            "x = $1 OR y < $1 LIMIT $2"
        );
        assert_eq!(numbered("?2, ?, ?1, ?"), "$2, $3, $1, $4");
        assert_eq!(
            numbered("s LIKE ? ESCAPE '\\' AND t = '?' AND \"a?\" = ?"),
            "s LIKE $1 ESCAPE '\\' AND t = '?' AND \"a?\" = $2"
        );
        assert_eq!(numbered("(?, ?), (?, ?)"), "($1, $2), ($3, $4)");
    }
}
