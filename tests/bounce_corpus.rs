//! The bounce corpus: every message in `tests/fixtures/bounces/` against its
//! expected classification in `expected.toml`, and every file listed there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crier::bounce::{REASON_MAX, Report, classify};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    fixture: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    file: String,
    /// Exactly the report's `delivered_to`.
    #[serde(default)]
    delivered_to: Vec<String>,
    findings: Vec<ExpectedFinding>,
}

/// A key left out means the finding must have none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFinding {
    kind: String,
    recipient: Option<String>,
    status: Option<String>,
    message_id: Option<String>,
    /// Words the reason must contain.
    reason: Option<String>,
}

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces")
}

fn expected() -> Vec<Fixture> {
    let text = std::fs::read_to_string(folder().join("expected.toml")).unwrap();
    toml::from_str::<Expected>(&text).unwrap().fixture
}

fn check(fixture: &Fixture, report: &Report) -> Result<(), String> {
    if report.delivered_to != fixture.delivered_to {
        return Err(format!("delivered_to {:?}", report.delivered_to));
    }
    if report.findings.len() != fixture.findings.len() {
        return Err(format!(
            "{} findings: {:#?}",
            report.findings.len(),
            report.findings
        ));
    }
    for (got, want) in report.findings.iter().zip(&fixture.findings) {
        let same = got.kind.as_str() == want.kind
            && got.recipient == want.recipient
            && got.status == want.status
            && got.message_id == want.message_id
            && want
                .reason
                .as_ref()
                .is_none_or(|r| got.reason.contains(r.as_str()));
        if !same {
            return Err(format!("got {got:#?}\nwanted {want:#?}"));
        }
        if got.reason.is_empty()
            || got.reason.chars().count() > REASON_MAX
            || got.reason.contains('\n')
        {
            return Err(format!("reason not one line: {:?}", got.reason));
        }
    }
    Ok(())
}

#[test]
fn every_fixture_is_classified_as_expected() {
    let mut failures = Vec::new();
    for fixture in expected() {
        let raw = std::fs::read(folder().join(&fixture.file))
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        if let Err(why) = check(&fixture, &classify(&raw)) {
            failures.push(format!("{}: {why}", fixture.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_is_listed_once_and_the_corpus_is_large_enough() {
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for fixture in expected() {
        *listed.entry(fixture.file).or_default() += 1;
    }
    let twice: Vec<_> = listed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "listed twice: {twice:?}");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "expected.toml" {
            files.push(name);
        }
    }
    files.sort();
    let unlisted: Vec<_> = files.iter().filter(|f| !listed.contains_key(*f)).collect();
    assert!(unlisted.is_empty(), "not in expected.toml: {unlisted:?}");
    let missing: Vec<_> = listed.keys().filter(|f| !files.contains(f)).collect();
    assert!(missing.is_empty(), "listed but absent: {missing:?}");
    assert!(files.len() >= 32, "only {} fixtures", files.len());
    for file in &files {
        let stem = file
            .strip_suffix(".eml")
            .unwrap_or_else(|| panic!("{file}: not .eml"));
        let (number, name) = stem.split_once('-').unwrap();
        assert!(
            number.len() == 2 && number.bytes().all(|b| b.is_ascii_digit()),
            "{file}"
        );
        assert!(!name.is_empty(), "{file}");
    }
}

/// Prints what each fixture gives: `BOUNCE_DUMP=1 cargo test --test bounce_corpus dump -- --nocapture`.
#[test]
fn dump() {
    if std::env::var_os("BOUNCE_DUMP").is_none() {
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(folder())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
    {
        let report = classify(&std::fs::read(path).unwrap());
        println!(
            "== {}\n{}",
            path.file_name().unwrap().to_string_lossy(),
            serde_json::to_string_pretty(&report).unwrap()
        );
    }
}
