//! The schema, as an ordered list of migrations. The schema version is the number
//! applied (kept in `PRAGMA user_version`); a database newer than this list is refused.
//! Types and statements stay within what PostgreSQL also accepts, bar the AUTOINCREMENT
//! keyword and PRAGMAs, so a second backend can reuse them with small edits.

pub const MIGRATIONS: &[&str] = &[
    // 1: subscribers, their audiences, the consent and suppression records.
    r#"
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        name TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
        frequency TEXT NOT NULL,
        timezone TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        unsubscribed_at INTEGER,
        consent_at INTEGER NOT NULL,
        consent_source TEXT NOT NULL,
        consent_ip TEXT,
        consent_user_agent TEXT,
        consent_text_version TEXT NOT NULL,
        confirm_ip TEXT,
        confirm_user_agent TEXT,
        confirmation_sent_at INTEGER,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX subscribers_status ON subscribers (status);
    CREATE TABLE subscriber_audiences (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        audience TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, audience)
    );
    CREATE INDEX subscriber_audiences_audience ON subscriber_audiences (audience);
    CREATE TABLE suppressions (
        email_hash TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscriber_id INTEGER,
        email_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT,
        at INTEGER NOT NULL
    );
    CREATE INDEX events_subscriber ON events (subscriber_id);
    "#,
    // 2: the outbox. Message bodies are frozen in `contents`, shared by every
    // recipient of the same content; each row adds its recipient's own values.
    r#"
    CREATE TABLE contents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        text_body TEXT NOT NULL,
        html_body TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        subscriber_id INTEGER,
        recipient TEXT NOT NULL,
        content_id INTEGER NOT NULL REFERENCES contents (id),
        vars TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        lease_until INTEGER,
        sent_at INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE INDEX outbox_subscriber ON outbox (subscriber_id);
    "#,
    // 3: digest runs and when each article was first seen.
    r#"
    ALTER TABLE outbox ADD COLUMN digest TEXT;
    ALTER TABLE outbox ADD COLUMN period INTEGER;
    CREATE INDEX outbox_digest_period ON outbox (digest, subscriber_id, period);
    CREATE TABLE articles_seen (
        slug TEXT PRIMARY KEY,
        first_seen INTEGER NOT NULL
    );
    "#,
    // 4: partial indexes for the rows a worker looks for (queued, sending, failed).
    // Sent rows, nearly all of them, sit in no status index, so marking a row sent
    // touches one index less and the indexes stay small as the outbox grows.
    r#"
    DROP INDEX outbox_due;
    CREATE INDEX outbox_queued ON outbox (next_attempt_at, id) WHERE status = 'queued';
    CREATE INDEX outbox_sending ON outbox (lease_until) WHERE status = 'sending';
    CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
    "#,
    // 5: one index by subscriber instead of two. It serves the per-subscriber deletes
    // and the planner's "latest digest of each subscriber" alike, and queueing a
    // digest run then updates one index keyed by subscriber per row, not two.
    r#"
    DROP INDEX outbox_subscriber;
    DROP INDEX outbox_digest_period;
    CREATE INDEX outbox_subscriber_digest ON outbox (subscriber_id, digest, period);
    "#,
    // 6: names stored before they were checked lose their control characters (a line
    // break in a name broke the `To:` header of every message to that subscriber).
    // The cleaning itself is Rust ([`CLEAN_NAMES`]): SQLite's replace() cannot find
    // a NUL inside a text value.
    "SELECT 1",
    // 7: what a sign-up for a known address asks for waits here until the address's
    // owner confirms it; until then the subscriber's own record stays as it was.
    r#"
    CREATE TABLE signups (
        subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
        name TEXT,
        audiences TEXT NOT NULL,
        frequency TEXT NOT NULL,
        timezone TEXT NOT NULL,
        consent_at INTEGER NOT NULL,
        consent_source TEXT NOT NULL,
        consent_ip TEXT,
        consent_user_agent TEXT,
        consent_text_version TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 8: the admin console's accounts (Argon2id PHC strings) and sessions. A session
    // is kept by the SHA-256 of its cookie, never by the cookie itself.
    r#"
    CREATE TABLE admins (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        password_changed_at INTEGER NOT NULL
    );
    CREATE TABLE admin_sessions (
        id_hash BLOB PRIMARY KEY,
        admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
    "#,
    // 9: the console's subscriber list: indexes for each filter and sort it offers,
    // and a full-text index of addresses and names. The audience index becomes
    // covering, so "members of X" never reads the table. The search index is FTS5
    // with the trigram tokenizer, which finds any part of a word (three characters
    // or more) as `LIKE '%…%'` would, without scanning; it holds no copy of the text
    // (external content) and triggers keep it in step with every insert, change of
    // address or name, and delete. FTS5 is SQLite's own: a PostgreSQL backend would
    // use a pg_trgm index instead, behind the same store method. Every statement may
    // run again on a database that has its objects (tests rewind `user_version`).
    r#"
    DROP INDEX IF EXISTS subscriber_audiences_audience;
    CREATE INDEX IF NOT EXISTS subscriber_audiences_audience ON subscriber_audiences (audience, subscriber_id);
    CREATE INDEX IF NOT EXISTS subscribers_frequency ON subscribers (frequency, status);
    CREATE INDEX IF NOT EXISTS subscribers_status_email ON subscribers (status, email);
    CREATE VIRTUAL TABLE IF NOT EXISTS subscribers_fts USING fts5 (
        email, name, content = 'subscribers', content_rowid = 'id', tokenize = 'trigram'
    );
    CREATE TRIGGER IF NOT EXISTS subscribers_fts_insert AFTER INSERT ON subscribers BEGIN
        INSERT INTO subscribers_fts (rowid, email, name) VALUES (new.id, new.email, new.name);
    END;
    CREATE TRIGGER IF NOT EXISTS subscribers_fts_delete AFTER DELETE ON subscribers BEGIN
        INSERT INTO subscribers_fts (subscribers_fts, rowid, email, name)
            VALUES ('delete', old.id, old.email, old.name);
    END;
    CREATE TRIGGER IF NOT EXISTS subscribers_fts_update AFTER UPDATE OF email, name ON subscribers
    WHEN old.email IS NOT new.email OR old.name IS NOT new.name BEGIN
        INSERT INTO subscribers_fts (subscribers_fts, rowid, email, name)
            VALUES ('delete', old.id, old.email, old.name);
        INSERT INTO subscribers_fts (rowid, email, name) VALUES (new.id, new.email, new.name);
    END;
    INSERT INTO subscribers_fts (subscribers_fts) VALUES ('rebuild');
    "#,
    // 10: what the console's dashboard counts per day and per
    // digest, each figure one GROUP BY over an index that holds every column it reads:
    // audit events by kind and time, outbox rows by the day they were queued and their
    // status, and active subscribers by schedule and time zone.
    r#"
    CREATE INDEX IF NOT EXISTS events_kind_at ON events (kind, at);
    CREATE INDEX IF NOT EXISTS outbox_created_status ON outbox (created_at, status);
    CREATE INDEX IF NOT EXISTS subscribers_status_frequency_zone ON subscribers (status, frequency, timezone);
    "#,
    // 11: the outbox's rows per day they were queued without an index that changes
    // with their status. `outbox (created_at, status)` was rewritten twice for every
    // message sent (queued → sending → sent); `outbox (created_at)` is written once,
    // when a row is queued. The dashboard counts each day's rows from it and the rows
    // not yet sent (queued, sending, failed) from their partial indexes (migration 4);
    // the rest of each day's rows are sent.
    r#"
    DROP INDEX IF EXISTS outbox_created_status;
    CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at);
    "#,
    // 12: bounce events. One row per classification of a returned message, a
    // complaint or a provider's event, with the outbox row it names (through its VERP
    // token or its Message-ID) and what it did. Rows outlive their outbox row (which
    // is pruned) and keep no address: the recipient is its keyed hash. The Message-ID
    // index lets a provider's event that carries only the Message-ID find its row.
    r#"
    CREATE TABLE IF NOT EXISTS bounce_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subscriber_id INTEGER,
        outbox_id INTEGER,
        email_hash TEXT,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        status_code TEXT,
        reason TEXT NOT NULL,
        action TEXT NOT NULL,
        sent_at INTEGER,
        at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS bounce_events_subscriber ON bounce_events (subscriber_id, at);
    CREATE INDEX IF NOT EXISTS bounce_events_outbox ON bounce_events (outbox_id);
    CREATE INDEX IF NOT EXISTS outbox_message_id ON outbox (message_id);
    "#,
    // 13: what several instances on one database agree on (`store/coord.rs`): each
    // instance's heartbeat, leases (one planner per digest run), and fixed-window hit
    // counts for the rate limits shared by every instance (keyed by a keyed hash,
    // never a raw address). Times are unix seconds in BIGINTs; the statements are
    // PostgreSQL's too. Every statement may run again (tests rewind `user_version`),
    // which is why `outbox.claimed_by` is not added here: SQLite has no
    // `ADD COLUMN IF NOT EXISTS`.
    r#"
    CREATE TABLE IF NOT EXISTS instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        beat_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS leases (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rate_hits (
        key TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (key, window_start)
    );
    CREATE INDEX IF NOT EXISTS rate_hits_window ON rate_hits (window_start);
    "#,
    // 14: the public archive of digest editions. One `editions` row per digest and
    // day (the day its schedule fired on the subscribers' clocks), and a copy of each
    // article it listed under each audience, so that an edition's page still reads
    // right after an article is edited or deleted. Nothing about who it went to.
    // Written in the transaction that queues the run; a second run or time zone on
    // the same day adds rows and never doubles one.
    r#"
    CREATE TABLE IF NOT EXISTS editions (
        digest TEXT NOT NULL,
        edition TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        period_end INTEGER NOT NULL,
        queued_at INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (digest, edition)
    );
    CREATE TABLE IF NOT EXISTS edition_articles (
        digest TEXT NOT NULL,
        edition TEXT NOT NULL,
        audience TEXT NOT NULL,
        audience_name TEXT NOT NULL,
        audience_rank INTEGER NOT NULL,
        slug TEXT NOT NULL,
        title TEXT NOT NULL,
        url TEXT NOT NULL,
        published TEXT NOT NULL,
        summary TEXT,
        category TEXT NOT NULL,
        subject TEXT NOT NULL,
        reading_minutes INTEGER NOT NULL,
        also TEXT NOT NULL,
        PRIMARY KEY (digest, edition, audience, slug),
        FOREIGN KEY (digest, edition) REFERENCES editions (digest, edition) ON DELETE CASCADE
    );
    "#,
    // 15: which named instance claimed an outbox row (`outbox.claimed_by`), so that a
    // restarted instance gives its own claims back at once. Only instances sharing
    // PostgreSQL name their claims; a SQLite file has one daemon, which releases every
    // claim when it starts. Nothing to do here: the number keeps both lists in step.
    "-- outbox.claimed_by is PostgreSQL's alone",
];

/// The migration after which subscriber names are cleaned.
pub const CLEAN_NAMES: usize = 6;

/// The same schema on PostgreSQL, one entry per SQLite migration, so that both lists
/// have the same length and a version means the same schema on both (a test checks
/// it). Migration 1 creates at once what SQLite's migrations 1–12 built step by step:
/// BIGINT times, BIGSERIAL ids (where SQLite's AUTOINCREMENT never reuses an id, a
/// sequence never does either), the same constraints, indexes and partial indexes;
/// migrations 2–12 have nothing left to do. The search index of migration 9 is
/// SQLite's FTS5 alone: PostgreSQL searches with `lower(…) LIKE`. Besides SQLite's
/// tables, `suppressions` keeps a `position` (SQLite's rowid) and `crier_settings`
/// holds what every instance shares (the generated secret).
///
/// A migration added to [`MIGRATIONS`] gets its PostgreSQL form here, at the same
/// place.
pub const POSTGRES: &[&str] = &[
    // 1: everything SQLite's migrations 1–12 make.
    r#"
    CREATE TABLE subscribers (
        id BIGSERIAL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
        frequency TEXT NOT NULL,
        timezone TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        confirmed_at BIGINT,
        unsubscribed_at BIGINT,
        consent_at BIGINT NOT NULL,
        consent_source TEXT NOT NULL,
        consent_ip TEXT,
        consent_user_agent TEXT,
        consent_text_version TEXT NOT NULL,
        confirm_ip TEXT,
        confirm_user_agent TEXT,
        confirmation_sent_at BIGINT,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX subscribers_status ON subscribers (status);
    CREATE INDEX subscribers_frequency ON subscribers (frequency, status);
    CREATE INDEX subscribers_status_email ON subscribers (status, email);
    CREATE INDEX subscribers_status_frequency_zone ON subscribers (status, frequency, timezone);
    CREATE TABLE subscriber_audiences (
        subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        audience TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, audience)
    );
    CREATE INDEX subscriber_audiences_audience ON subscriber_audiences (audience, subscriber_id);
    CREATE TABLE suppressions (
        email_hash TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        position BIGSERIAL NOT NULL UNIQUE
    );
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        subscriber_id BIGINT,
        email_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT,
        at BIGINT NOT NULL
    );
    CREATE INDEX events_subscriber ON events (subscriber_id);
    CREATE INDEX events_kind_at ON events (kind, at);
    CREATE TABLE contents (
        id BIGSERIAL PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        text_body TEXT NOT NULL,
        html_body TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        subscriber_id BIGINT,
        recipient TEXT NOT NULL,
        content_id BIGINT NOT NULL REFERENCES contents (id),
        vars TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
        attempts BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        lease_until BIGINT,
        sent_at BIGINT,
        last_error TEXT,
        digest TEXT,
        period BIGINT
    );
    CREATE INDEX outbox_queued ON outbox (next_attempt_at, id) WHERE status = 'queued';
    CREATE INDEX outbox_sending ON outbox (lease_until) WHERE status = 'sending';
    CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
    CREATE INDEX outbox_subscriber_digest ON outbox (subscriber_id, digest, period);
    CREATE INDEX outbox_created ON outbox (created_at);
    CREATE INDEX outbox_message_id ON outbox (message_id);
    CREATE TABLE articles_seen (
        slug TEXT PRIMARY KEY,
        first_seen BIGINT NOT NULL
    );
    CREATE TABLE signups (
        subscriber_id BIGINT PRIMARY KEY REFERENCES subscribers (id) ON DELETE CASCADE,
        name TEXT,
        audiences TEXT NOT NULL,
        frequency TEXT NOT NULL,
        timezone TEXT NOT NULL,
        consent_at BIGINT NOT NULL,
        consent_source TEXT NOT NULL,
        consent_ip TEXT,
        consent_user_agent TEXT,
        consent_text_version TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE admins (
        id BIGSERIAL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        password_changed_at BIGINT NOT NULL
    );
    CREATE TABLE admin_sessions (
        id_hash BYTEA PRIMARY KEY,
        admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
    );
    CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
    CREATE TABLE bounce_events (
        id BIGSERIAL PRIMARY KEY,
        subscriber_id BIGINT,
        outbox_id BIGINT,
        email_hash TEXT,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        status_code TEXT,
        reason TEXT NOT NULL,
        action TEXT NOT NULL,
        sent_at BIGINT,
        at BIGINT NOT NULL
    );
    CREATE INDEX bounce_events_subscriber ON bounce_events (subscriber_id, at);
    CREATE INDEX bounce_events_outbox ON bounce_events (outbox_id);
    CREATE TABLE crier_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2–12: in migration 1.
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    // 13: the coordination tables, as SQLite's (already BIGINT).
    r#"
    CREATE TABLE IF NOT EXISTS instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        beat_at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS leases (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rate_hits (
        key TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (key, window_start)
    );
    CREATE INDEX IF NOT EXISTS rate_hits_window ON rate_hits (window_start);
    "#,
    // 14: the archive's editions, as SQLite's with BIGINT times and counts.
    r#"
    CREATE TABLE IF NOT EXISTS editions (
        digest TEXT NOT NULL,
        edition TEXT NOT NULL,
        period_start BIGINT NOT NULL,
        period_end BIGINT NOT NULL,
        queued_at BIGINT NOT NULL,
        revision BIGINT NOT NULL,
        PRIMARY KEY (digest, edition)
    );
    CREATE TABLE IF NOT EXISTS edition_articles (
        digest TEXT NOT NULL,
        edition TEXT NOT NULL,
        audience TEXT NOT NULL,
        audience_name TEXT NOT NULL,
        audience_rank BIGINT NOT NULL,
        slug TEXT NOT NULL,
        title TEXT NOT NULL,
        url TEXT NOT NULL,
        published TEXT NOT NULL,
        summary TEXT,
        category TEXT NOT NULL,
        subject TEXT NOT NULL,
        reading_minutes BIGINT NOT NULL,
        also TEXT NOT NULL,
        PRIMARY KEY (digest, edition, audience, slug),
        FOREIGN KEY (digest, edition) REFERENCES editions (digest, edition) ON DELETE CASCADE
    );
    "#,
    // 15: the named instance that last claimed each outbox row (NULL when the claimer
    // had no name). A restarted instance holding that name queues its rows again.
    "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_by TEXT",
];

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_every_migration() {
        assert_eq!(super::POSTGRES.len(), super::MIGRATIONS.len());
    }
}
