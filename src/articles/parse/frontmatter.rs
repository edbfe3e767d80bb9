//! Front matter of Markdown articles: TOML between `+++` lines or YAML between
//! `---` lines. Both are read into one JSON-like map, then checked key by key so
//! that every message names the key and its line: a value of the wrong kind is a
//! [`ValueError`] naming the key, to which the caller adds the line. Pure: no I/O,
//! no other crier module but `model`.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::ParseError;
use crate::model::is_slug;

const KNOWN_KEYS: &str =
    "title, date, subject, category, reading_minutes, last_verified, slug, audiences";

/// The front matter's fields, checked.
#[derive(Debug, Default)]
pub(super) struct FrontMatter {
    pub title: Option<String>,
    pub date: Option<NaiveDate>,
    pub subject: Option<String>,
    pub category: Option<String>,
    pub reading_minutes: Option<u32>,
    pub last_verified: Option<NaiveDate>,
    pub slug: Option<String>,
    pub audiences: Option<(Vec<String>, usize)>,
}

/// Splits `text` into front matter and body. Returns the parsed front matter, the
/// body, and the 1-based line number the body starts on.
pub(super) fn split(text: &str) -> Result<(FrontMatter, &str, usize), ParseError> {
    let first_end = text.find('\n').unwrap_or(text.len());
    let marker = text[..first_end].trim_end();
    let is_toml = match marker {
        "+++" => true,
        "---" => false,
        _ => {
            return Err(ParseError::at(
                1,
                "no front matter: a Markdown article starts with `+++` (TOML) or `---` (YAML) \
                 on its first line",
            ));
        }
    };
    let mut offset = (first_end + 1).min(text.len());
    let mut line_no = 2;
    let fm_start = offset;
    loop {
        if offset >= text.len() {
            return Err(ParseError::at(
                1,
                format!(
                    "the front matter opened with `{marker}` on line 1 is never closed; \
                     add a line with `{marker}` after it"
                ),
            ));
        }
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        if text[offset..end].trim_end() == marker {
            let fm = &text[fm_start..offset];
            let body = &text[(end + 1).min(text.len())..];
            let map = if is_toml {
                toml_map(fm)?
            } else {
                yaml_map(fm)?
            };
            let front = check(map, fm)?;
            return Ok((front, body, line_no + 1));
        }
        offset = end + 1;
        line_no += 1;
    }
}

/// The line of the file (front matter starts on line 2) that sets `key`.
fn key_line(fm: &str, key: &str) -> usize {
    fm.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches('"');
            line.strip_prefix(key).is_some_and(|rest| {
                let rest = rest.trim_start_matches('"').trim_start();
                rest.starts_with('=') || rest.starts_with(':')
            })
        })
        .map_or(1, |i| i + 2)
}

fn line_of_offset(fm: &str, offset: usize) -> usize {
    fm.as_bytes()[..offset.min(fm.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 2
}

fn toml_map(fm: &str) -> Result<Map<String, Value>, ParseError> {
    let table: toml::Table = fm.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(1, |span| line_of_offset(fm, span.start));
        ParseError::at(
            line,
            format!("the TOML front matter is invalid: {}", e.message().trim()),
        )
    })?;
    Ok(table
        .into_iter()
        .map(|(k, v)| (k, toml_to_json(v)))
        .collect())
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

fn yaml_map(fm: &str) -> Result<Map<String, Value>, ParseError> {
    if fm.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = serde_saphyr::from_str(fm).map_err(|e| {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("").trim();
        // Its own position is relative to the front matter; the line below is the file's.
        let first = match first.strip_prefix("error: line ") {
            Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
            None => first,
        };
        // saphyr counts lines from 1 within the front matter, which starts on line 2.
        let line = e.location().map_or(1, |l| l.line() as usize + 1);
        ParseError::at(line, format!("the YAML front matter is invalid: {first}"))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ParseError::at(
            2,
            "the front matter should be a list of `key: value` lines",
        )),
    }
}

fn check(map: Map<String, Value>, fm: &str) -> Result<FrontMatter, ParseError> {
    let mut front = FrontMatter::default();
    for (key, value) in map {
        let line = key_line(fm, &key);
        let err = |message: String| ParseError::at(line, message);
        let bad = |e: ValueError| ParseError::at(line, e.to_string());
        match key.as_str() {
            "title" => front.title = Some(text(&key, value).map_err(bad)?),
            "subject" => front.subject = Some(text(&key, value).map_err(bad)?),
            "category" => front.category = Some(text(&key, value).map_err(bad)?),
            "date" => front.date = Some(date(&key, value).map_err(bad)?),
            "last_verified" => front.last_verified = Some(date(&key, value).map_err(bad)?),
            "reading_minutes" => {
                let minutes = value
                    .as_u64()
                    .filter(|m| (1..=1000).contains(m))
                    .ok_or_else(|| {
                        err(format!(
                            "`reading_minutes` should be a whole number of minutes, not {value}"
                        ))
                    })?;
                front.reading_minutes = Some(minutes as u32);
            }
            "slug" => {
                let slug = text(&key, value).map_err(bad)?;
                if !is_slug(&slug) {
                    return Err(err(format!(
                        "the slug `{slug}` may only hold lowercase letters, digits and single hyphens"
                    )));
                }
                front.slug = Some(slug);
            }
            "audiences" => {
                let items = match value {
                    Value::Array(items) => items,
                    Value::String(s) => vec![Value::String(s)],
                    other => {
                        return Err(err(format!(
                            "`audiences` should be a list of audience slugs, not {other}"
                        )));
                    }
                };
                let mut slugs = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => {
                            slugs.push(s.trim().to_string())
                        }
                        other => {
                            return Err(err(format!(
                                "`audiences` should hold audience slugs; {other} is not one"
                            )));
                        }
                    }
                }
                front.audiences = Some((slugs, line));
            }
            _ => {
                return Err(err(format!(
                    "unknown front matter key `{key}` (known keys: {KNOWN_KEYS})"
                )));
            }
        }
    }
    Ok(front)
}

/// A value of the wrong kind for its key; the message names the key, the caller
/// adds the line.
#[derive(Debug, thiserror::Error)]
enum ValueError<'a> {
    #[error("`{key}` is empty")]
    Empty { key: &'a str },
    #[error("`{key}` should be text, not {value}")]
    NotText { key: &'a str, value: Value },
    #[error("`{key}` should be a date like 2026-05-14, not {value}")]
    NotDateText { key: &'a str, value: Value },
    #[error("`{key}` = `{text}` is not a real date like 2026-05-14")]
    NoSuchDate { key: &'a str, text: String },
}

fn text(key: &str, value: Value) -> Result<String, ValueError<'_>> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Value::String(_) => Err(ValueError::Empty { key }),
        value => Err(ValueError::NotText { key, value }),
    }
}

fn date(key: &str, value: Value) -> Result<NaiveDate, ValueError<'_>> {
    let Value::String(s) = value else {
        return Err(ValueError::NotDateText { key, value });
    };
    // A full timestamp is accepted; only its calendar date counts.
    let day = match s.as_bytes().get(10) {
        Some(b'T' | b't' | b' ') => &s[..10],
        _ => s.as_str(),
    };
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| ValueError::NoSuchDate { key, text: s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_yaml_give_the_same_fields() {
        let toml = "+++\ntitle = \"T\"\ndate = 2026-10-20\nreading_minutes = 3\naudiences = [\"hr\"]\n+++\nbody\n";
        let yaml =
            "---\ntitle: T\ndate: 2026-10-20\nreading_minutes: 3\naudiences: [hr]\n---\nbody\n";
        for text in [toml, yaml] {
            let (front, body, line) = split(text).unwrap();
            assert_eq!(front.title.as_deref(), Some("T"));
            assert_eq!(front.date, NaiveDate::from_ymd_opt(2026, 10, 20));
            assert_eq!(front.reading_minutes, Some(3));
            assert_eq!(front.audiences, Some((vec!["hr".to_string()], 5)));
            assert_eq!(body, "body\n");
            assert_eq!(line, 7);
        }
    }

    #[test]
    fn timestamps_keep_their_date() {
        let (front, _, _) = split("+++\ndate = 2026-10-20T23:30:00+02:00\n+++\n").unwrap();
        assert_eq!(front.date, NaiveDate::from_ymd_opt(2026, 10, 20));
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = split("+++\ntitle = \"T\"\ntags = [\"x\"]\n+++\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(
            e.message.starts_with("unknown front matter key `tags`"),
            "{}",
            e.message
        );
        let e = split("---\ntitle: T\ndate: 2026-02-30\n---\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("not a real date"), "{}", e.message);
        let e = split("+++\ntitle = \"T\"\nreading_minutes = \"five\"\n+++\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = split("+++\ntitle = \"T\n+++\n").unwrap_err();
        assert!(
            e.message.starts_with("the TOML front matter is invalid"),
            "{}",
            e.message
        );
        assert_eq!(e.line, Some(2));
        let e = split("---\ntitle: [unclosed\n---\n").unwrap_err();
        assert!(
            e.message.starts_with("the YAML front matter is invalid"),
            "{}",
            e.message
        );
    }

    #[test]
    fn value_errors_name_the_key() {
        let message = |e: ValueError| e.to_string();
        assert_eq!(
            text("title", Value::String(" ".into())).map_err(message),
            Err("`title` is empty".to_string())
        );
        assert_eq!(
            text("subject", Value::from(3)).map_err(message),
            Err("`subject` should be text, not 3".to_string())
        );
        assert_eq!(
            date("date", Value::Bool(true)).map_err(message),
            Err("`date` should be a date like 2026-05-14, not true".to_string())
        );
        assert_eq!(
            date("date", Value::String("2026-02-30".into())).map_err(message),
            Err("`date` = `2026-02-30` is not a real date like 2026-05-14".to_string())
        );
    }

    #[test]
    fn unterminated_and_missing_front_matter() {
        let e = split("+++\ntitle = \"T\"\n\nbody").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("never closed"), "{}", e.message);
        let e = split("# Just markdown\n").unwrap_err();
        assert!(e.message.starts_with("no front matter"), "{}", e.message);
    }
}
