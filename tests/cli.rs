//! The `crier` binary as an admin runs it: help, config discovery and errors,
//! `check` (JSON and text, exit codes), `audiences` and `cron`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crier(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CRIER_CONFIG")
        .env_remove("CRIER_DATABASE_URL")
        .env_remove("CRIER_STATE_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the crier binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_subcommands() {
    let out = crier(&["--help"], &repo());
    assert!(out.status.success());
    for sub in ["serve", "check", "audiences"] {
        assert!(
            stdout(&out).contains(sub),
            "{sub} missing from:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn check_json_on_valid_and_broken_stores() {
    let out = crier(
        &["check", "--json", "--store", "tests/fixtures/valid"],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let articles = doc["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 8);
    let seed_like = articles
        .iter()
        .find(|a| a["file"] == "seed-layout.txt")
        .unwrap();
    let keys: Vec<&str> = seed_like
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "audiences",
        "category",
        "file",
        "last_verified",
        "published",
        "reading_minutes",
        "slug",
        "subject",
        "title",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(seed_like["published"], "2026-06-02");
    assert_eq!(seed_like["last_verified"], "2026-06-20");
    assert_eq!(doc["errors"], serde_json::json!([]));
    let unmatched = doc["unmatched"].as_array().unwrap();
    assert!(unmatched.iter().any(|u| u["file"] == "seed-layout.txt"
        && u["text"] == "Drivers who wonder whether their routes will get worse."));

    let out = crier(
        &["check", "--json", "--store", "tests/fixtures/broken"],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 17);
    let date = errors
        .iter()
        .find(|e| e["file"] == "impossible-date.txt")
        .unwrap();
    assert_eq!(date["line"], 1);
    assert_eq!(date["message"], "2025-02-30 is not a real date");
    let empty = errors.iter().find(|e| e["file"] == "empty.txt").unwrap();
    assert_eq!(empty["line"], Value::Null);
    assert_eq!(doc["articles"].as_array().unwrap().len(), 1);
}

#[test]
fn check_text_names_file_and_line() {
    let out = crier(&["check", "--store", "tests/fixtures/broken"], &repo());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("impossible-date.txt:1: 2025-02-30 is not a real date"),
        "{text}"
    );
    assert!(text.contains("1 articles, 17 with errors"), "{text}");
}

#[test]
fn config_flag_before_or_after_and_crier_toml_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    let valid = repo().join("tests/fixtures/valid");
    let audiences = repo().join("subscribers/audiences.toml");
    let text = format!(
        "[site]\ntitle = \"Fixture news\"\n[store]\npath = {:?}\naudiences = {:?}\n",
        valid.display().to_string(),
        audiences.display().to_string()
    );
    std::fs::write(&config, &text).unwrap();
    let config = config.to_str().unwrap();

    let before = crier(&["--config", config, "check", "--json"], dir.path());
    let after = crier(&["check", "--json", "--config", config], dir.path());
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    assert_eq!(before.stdout, after.stdout);
    let doc: Value = serde_json::from_slice(&before.stdout).unwrap();
    assert_eq!(doc["articles"].as_array().unwrap().len(), 8);

    // Without --config, ./crier.toml is read.
    std::fs::write(dir.path().join("crier.toml"), &text).unwrap();
    let found = crier(&["check", "--json"], dir.path());
    assert_eq!(found.stdout, before.stdout);

    // Relative paths in a config file are taken from the file's folder.
    let sub = dir.path().join("etc");
    std::fs::create_dir(&sub).unwrap();
    std::fs::create_dir(sub.join("store")).unwrap();
    std::fs::copy(
        valid.join("seed-layout.txt"),
        sub.join("store/seed-layout.txt"),
    )
    .unwrap();
    std::fs::copy(&audiences, sub.join("aud.toml")).unwrap();
    std::fs::write(
        sub.join("c.toml"),
        "[store]\npath = \"store\"\naudiences = \"aud.toml\"\n",
    )
    .unwrap();
    let relative = crier(&["check", "--json", "--config", "etc/c.toml"], dir.path());
    assert_eq!(relative.status.code(), Some(0), "{}", stderr(&relative));
    let doc: Value = serde_json::from_slice(&relative.stdout).unwrap();
    assert_eq!(doc["articles"][0]["slug"], "seed-layout");
}

#[test]
fn unknown_config_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("crier.toml"),
        "[site]\ntitle = \"x\"\ntitel = \"y\"\n",
    )
    .unwrap();
    let out = crier(&["check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("crier.toml:3: unknown field `titel`"),
        "{}",
        stderr(&out)
    );
    let out = crier(&["serve"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown field `titel`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_taxonomy_and_missing_store_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("aud.toml");
    std::fs::write(
        &bad,
        "[[audience]]\nslug = \"a\"\nname = \"A\"\n[[audience]]\nslug = \"a\"\nname = \"B\"\n",
    )
    .unwrap();
    let out = crier(&["check", "--audiences", bad.to_str().unwrap()], &repo());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("aud.toml:5: the audience slug `a` is used twice"),
        "{}",
        stderr(&out)
    );

    let out = crier(&["check", "--store", "no/such/folder"], &repo());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the article store no/such/folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn audiences_lists_counts_then_unmatched_sentences() {
    let out = crier(&["audiences", "--store", "tests/fixtures/valid"], &repo());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let security = text.lines().find(|l| l.starts_with("security ")).unwrap();
    assert!(
        security.split_whitespace().nth(1) == Some("2"),
        "{security}"
    );
    // Everything counts every article; with no database nobody chose anything, so
    // every article is one no subscriber gets.
    let everything = text.lines().find(|l| l.starts_with("everything ")).unwrap();
    let counts: Vec<&str> = everything.split_whitespace().skip(1).take(2).collect();
    assert_eq!(counts, ["8", "0"], "{everything}");
    assert!(
        text.contains("\n8 articles no subscriber gets:\n"),
        "{text}"
    );
    assert!(
        text.contains("  hostile-text.txt: for security, which no one chose\n"),
        "{text}"
    );
    assert!(
        text.contains("tight-separators.txt:10: People who just like charts."),
        "{text}"
    );

    let out = crier(
        &["audiences", "--json", "--store", "tests/fixtures/valid"],
        &repo(),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hr = doc["audiences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["slug"] == "hr")
        .unwrap();
    assert_eq!(hr["articles"], 1);
    assert_eq!(doc["audiences"].as_array().unwrap().len(), 20);
    assert_eq!(doc["everything"]["subscribers"], 0);
    assert_eq!(doc["unreached"].as_array().unwrap().len(), 8);
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crier"))
        .args(["check"])
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `crier check | head -0`: the reader goes away before crier writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// A config over the valid fixture store and the demo taxonomy, then `more`.
fn fixture_config(more: &str) -> String {
    format!(
        "[store]\npath = {:?}\naudiences = {:?}\n{more}",
        repo().join("tests/fixtures/valid").display().to_string(),
        repo()
            .join("subscribers/audiences.toml")
            .display()
            .to_string()
    )
}

#[test]
fn check_compiles_the_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/digest.txt.hbs"),
        "{{#each groups}} unclosed",
    )
    .unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        fixture_config("[site]\ntemplates = \"templates\"\n"),
    )
    .unwrap();
    let out = crier(&["check", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("digest.txt.hbs does not compile"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reads_the_smtp_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |delivery: &str| {
        std::fs::write(&config, fixture_config(&format!("[delivery]\n{delivery}"))).unwrap();
    };
    let check = || crier(&["check", "--config", config.to_str().unwrap()], dir.path());

    write("smtp_url = \"smtps://mail.example.org\"\nsmtp_ca_file = \"missing.pem\"\n");
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read delivery.smtp_ca_file")
            && stderr(&out).contains("missing.pem"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    write("smtp_url = \"smtps://mail.example.org\"\nsmtp_ca_file = \"junk.pem\"\n");
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("holds no PEM certificates"),
        "{}",
        stderr(&out)
    );

    let ca = repo().join("tests/fixtures/tls/ca.pem");
    write(&format!(
        "smtp_url = \"smtp://mail.example.org?tls=required\"\nsmtp_ca_file = {:?}\n",
        ca.display().to_string()
    ));
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dir.path().join("outbox").exists(), "check creates nothing");
}

#[test]
fn cron_prints_firings_and_names_the_bad_field() {
    let out = crier(
        &[
            "cron",
            "0 7 1 * 1",
            "--next",
            "3",
            "--json",
            "--tz",
            "Europe/London",
            "--after",
            "2026-06-01T00:00:00Z",
        ],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The 1st (a Monday) and the Mondays after, at 07:00 BST.
    assert_eq!(
        doc,
        serde_json::json!([
            {"utc": "2026-06-01T06:00:00Z", "local": "2026-06-01T07:00:00+01:00"},
            {"utc": "2026-06-08T06:00:00Z", "local": "2026-06-08T07:00:00+01:00"},
            {"utc": "2026-06-15T06:00:00Z", "local": "2026-06-15T07:00:00+01:00"},
        ])
    );
    let text = crier(
        &["cron", "@weekly", "--after", "2026-01-01T00:00:00Z"],
        &repo(),
    );
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("Sun 2026-01-04 00:00:00 UTC"),
        "{}",
        stdout(&text)
    );

    let bad = crier(&["cron", "0 7 * * 8"], &repo());
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("day of week `8`"), "{}", stderr(&bad));
    let zone = crier(&["cron", "@daily", "--tz", "Mars/Base"], &repo());
    assert_eq!(zone.status.code(), Some(2));
}

/// A config over the fixture store with its database in `dir/data`.
fn people_config(dir: &Path) -> PathBuf {
    std::fs::create_dir(dir.join("data")).unwrap();
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        fixture_config("[database]\nurl = \"sqlite://data/crier.db\"\n"),
    )
    .unwrap();
    config
}

/// `subscribers import` of a CRLF file: each bad row is named by its own line (a
/// quoted field over two lines counts two), a row with a field too many is an error,
/// and a quote left open is reported on its line with every good row before and after
/// it imported.
#[test]
fn csv_import_names_the_right_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let csv = [
        "email,name,audiences,frequency,timezone",
        "one@example.org,One,hr,weekly,UTC",
        "two@example.org,\"Two",
        "lines\",hr,weekly,UTC",
        "three@example.org,Three,hr,weekly,UTC,surplus",
        "not-an-address,X,hr,weekly,UTC",
        "four@example.org,Four,hr,weekly,UTC",
        "five@example.org,\"Five,hr,weekly,UTC",
        "six@example.org,Six,hr,weekly,UTC",
        "seven@example.org,\"Seven\",hr,weekly,UTC",
        "",
    ]
    .join("\r\n");
    let file = dir.path().join("list.csv");
    std::fs::write(&file, csv).unwrap();
    let out = crier(
        &[
            "--config",
            config.to_str().unwrap(),
            "subscribers",
            "import",
            "--active",
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let prefix = format!("{}:", file.display());
    let lines: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(lines, ["3", "5", "6", "8"], "{err}");
    assert!(err.contains(":5: the row has 6 fields"), "{err}");
    assert!(err.contains(":8: a quote opens a field here"), "{err}");
    assert!(stdout(&out).contains("4 added"), "{}", stdout(&out));
    let listed = crier(
        &["--config", config.to_str().unwrap(), "subscribers", "list"],
        dir.path(),
    );
    for email in ["one@", "four@", "six@", "seven@"] {
        assert!(stdout(&listed).contains(email), "{}", stdout(&listed));
    }
    assert!(!stdout(&listed).contains("three@"), "{}", stdout(&listed));
}

/// `subscribers export --format csv` writes a cell a spreadsheet would run as a
/// formula (address or name) as text; the JSON export keeps the data as it is.
#[test]
fn csv_export_defuses_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let config = config.to_str().unwrap();
    for (email, name) in [
        (
            "=cmd@example.org",
            "=HYPERLINK(\"http://evil.example/\",\"x\")",
        ),
        ("-dash@example.org", "+1+1"),
        ("plain@example.org", "@SUM(1,2)"),
        ("ada@example.org", "-2"),
    ] {
        let out = crier(
            &[
                "--config",
                config,
                "subscribers",
                "add",
                &format!("--name={name}"),
                "--audiences",
                "hr",
                "--active",
                "--",
                email,
            ],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{email}: {}", stderr(&out));
    }
    let out = crier(
        &[
            "--config",
            config,
            "subscribers",
            "export",
            "--format",
            "csv",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let mut cells = 0;
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            cells += 1;
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a formula cell: {cell:?}"
            );
        }
    }
    assert_eq!(cells, 4 * 9);
    let text = stdout(&out);
    assert!(text.contains("'=cmd@example.org"), "{text}");
    assert!(text.contains("'-2"), "{text}");

    let out = crier(
        &[
            "--config",
            config,
            "subscribers",
            "export",
            "--format",
            "json",
        ],
        dir.path(),
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"=HYPERLINK(\"http://evil.example/\",\"x\")"),
        "{names:?}"
    );
    assert!(json.to_string().contains("\"=cmd@example.org\""));
}

/// `subscribers unsuppress` lifts what `remove` left on the suppression list, once;
/// the address can then be added as active again.
#[test]
fn unsuppress_lets_an_erased_address_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config, "subscribers"];
        all.extend_from_slice(args);
        crier(&all, dir.path())
    };
    let add = ["add", "--audiences", "hr", "--active", "ada@example.org"];
    assert_eq!(run(&add).status.code(), Some(0));
    assert_eq!(run(&["remove", "ada@example.org"]).status.code(), Some(0));
    let refused = run(&add);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));

    let out = run(&["unsuppress", "Ada@Example.org"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("it was: erased"), "{}", stdout(&out));
    let again = run(&["unsuppress", "ada@example.org"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not on the suppression list"));
    let out = run(&add);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// An article that matches no audience reaches only those who chose Everything:
/// `crier check` says so for each one, in text and in JSON.
#[test]
fn check_warns_of_articles_that_match_no_audience() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/valid/tight-separators.txt"),
        dir.path().join("tight-separators.txt"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fernhill-vans.txt"),
        "Fernhill·2026·11·20·Impact·2 min read\nFernhill paints its vans\nWHAT'S ACTUALLY NEW\n\
         - A coating.\nwho should care\n- Anyone who likes green.\n",
    )
    .unwrap();
    let store = dir.path().to_str().unwrap();
    let out = crier(&["check", "--store", store], &repo());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "warning: fernhill-vans.txt: matches no audience; only Everything subscribers get it"
        ),
        "{text}"
    );
    assert!(!text.contains("warning: tight-separators.txt"), "{text}");
    let out = crier(&["check", "--json", "--store", store], &repo());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["no_audience"], serde_json::json!(["fernhill-vans.txt"]));
}

/// `db migrate-to` refuses what it cannot copy before it connects anywhere, and a
/// password in a URL never reaches the terminal.
#[test]
fn db_migrate_to_names_what_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let config = config.to_str().unwrap();
    let add = crier(
        &[
            "--config",
            config,
            "subscribers",
            "add",
            "a@example.org",
            "--audiences",
            "hr",
        ],
        dir.path(),
    );
    assert!(add.status.success(), "{}", stderr(&add));

    let not_pg = crier(
        &[
            "--config",
            config,
            "db",
            "migrate-to",
            "mysql://u:hunter2@h/db",
        ],
        dir.path(),
    );
    assert_eq!(not_pg.status.code(), Some(2));
    assert!(
        stderr(&not_pg).contains("not a PostgreSQL URL"),
        "{}",
        stderr(&not_pg)
    );
    assert!(!stderr(&not_pg).contains("hunter2"), "{}", stderr(&not_pg));

    let pg = dir.path().join("pg.toml");
    std::fs::write(
        &pg,
        "[database]\nurl = \"postgres://u:hunter2@127.0.0.1:1/db\"\nstate_dir = \"data\"\n",
    )
    .unwrap();
    let already = crier(
        &[
            "--config",
            pg.to_str().unwrap(),
            "db",
            "migrate-to",
            "postgres://u@h/db",
        ],
        dir.path(),
    );
    assert_eq!(already.status.code(), Some(2));
    assert!(
        stderr(&already).contains("PostgreSQL already"),
        "{}",
        stderr(&already)
    );
}

/// `CRIER_DATABASE_URL` (what a container passes) takes the place of the config's
/// `[database] url`: the subscriber lands in the database it names and not in the
/// file's; a PostgreSQL URL from the environment without a state folder is refused
/// by name, and its password is printed nowhere, not even by `--help`.
#[test]
fn the_environment_names_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let config = config.to_str().unwrap();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let run = |args: &[&str], url: &str| {
        Command::new(env!("CARGO_BIN_EXE_crier"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("CRIER_CONFIG")
            .env_remove("CRIER_STATE_DIR")
            .env("CRIER_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let add = run(
        &[
            "--config",
            config,
            "subscribers",
            "add",
            "env@example.org",
            "--audiences",
            "hr",
        ],
        "sqlite://elsewhere/crier.db",
    );
    assert!(add.status.success(), "{}", stderr(&add));
    assert!(dir.path().join("elsewhere/crier.db").is_file());
    assert!(
        !dir.path().join("data/crier.db").exists(),
        "the file's database was not used"
    );
    let listed = crier(&["--config", config, "subscribers", "list"], dir.path());
    assert!(
        !stdout(&listed).contains("env@example.org"),
        "{}",
        stdout(&listed)
    );

    let pg = run(
        &["--config", config, "subscribers", "list"],
        "postgres://u:hunter2@127.0.0.1:1/db",
    );
    assert_eq!(pg.status.code(), Some(2), "{}", stderr(&pg));
    assert!(stderr(&pg).contains("state_dir"), "{}", stderr(&pg));
    assert!(!stderr(&pg).contains("hunter2"), "{}", stderr(&pg));
    let help = run(&["--help"], "postgres://u:hunter2@127.0.0.1:1/db");
    assert!(
        stdout(&help).contains("CRIER_DATABASE_URL"),
        "{}",
        stdout(&help)
    );
    assert!(!stdout(&help).contains("hunter2"), "{}", stdout(&help));
}

/// Every file under `root`, by its path relative to it, with its bytes.
fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::files_under(root)
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            (rel, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[test]
fn build_puts_a_new_folder_in_place_whole_and_rewrites_one_that_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = repo().join("tests/fixtures/valid");
    let audiences = repo().join("subscribers/audiences.toml");
    let out = dir.path().join("public/site");
    let build = || {
        let o = crier(
            &[
                "build",
                "--out",
                out.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
                "--audiences",
                audiences.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    // A new folder: built under a temporary name beside it, then renamed.
    build();
    let files = tree(&out);
    for expected in [
        "index.html",
        "feed.xml",
        "atom.xml",
        "feed.json",
        "404.html",
    ] {
        assert!(
            files.contains_key(expected),
            "{expected} missing: {:?}",
            files.keys()
        );
    }
    assert!(files.keys().any(|f| f.starts_with("articles/")));
    let beside: Vec<String> = std::fs::read_dir(dir.path().join("public"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["site"], "the temporary folder is left beside it");
    // The folder exists now: each file is replaced in place, with the same bytes, and
    // no temporary file is left.
    build();
    assert_eq!(tree(&out), files);
}
