//! The code map of ARCHITECTURE.md as a test: every `crate::…` path in a module's
//! code (its `use` lines, grouped or not, and paths written inline) is an arrow from
//! that module to another, and each arrow must be one the map allows. A new top-level
//! module must be placed in the map before it compiles into a passing suite. Unit-test
//! modules (everything from a file's first `#[cfg(test)]` on) may reach further: they
//! build fixtures with whatever parses them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. Keep in step with the code map in
/// ARCHITECTURE.md.
const MAP: &[(&str, &[&str])] = &[
    // The bottom: plain data, and small helpers that use nothing else of crier.
    ("model", &[]),
    ("clock", &[]),
    ("alive", &["clock"]),
    // What long-running parts publish about themselves, for the operations endpoints.
    ("health", &["alive", "clock", "model"]),
    ("dir", &[]),
    ("recent", &[]),
    ("work", &[]),
    ("tokens", &["model"]),
    ("templates", &[]),
    ("cron", &[]),
    // The pure core.
    ("config", &["model", "cron"]),
    ("articles", &["model", "config", "audience", "dir", "work"]),
    ("audience", &["model"]),
    ("feeds", &["model", "articles", "audience"]),
    (
        "site",
        &[
            "model",
            "articles",
            "audience",
            "feeds",
            "templates",
            "tokens",
            "work",
        ],
    ),
    ("digest", &["model", "articles", "audience", "cron"]),
    // What a returned message or a provider's event says: pure.
    ("bounce", &["model"]),
    (
        "email",
        &["model", "config", "templates", "tokens", "recent"],
    ),
    // I/O at the edges.
    ("store", &["model"]),
    (
        "delivery",
        &[
            "model", "store", "clock", "health", "recent", "tokens", "bounce",
        ],
    ),
    (
        "subscriptions",
        &[
            "model",
            "store",
            "articles",
            "audience",
            "clock",
            "email",
            "templates",
            "tokens",
        ],
    ),
    // The digest use case: plan, render, queue.
    (
        "digests",
        &[
            "model",
            "articles",
            "clock",
            "config",
            "digest",
            "email",
            "store",
            "subscriptions",
            "templates",
            "work",
        ],
    ),
    // The bounce use case: attribute, record, apply the policy.
    (
        "bounces",
        &["model", "bounce", "clock", "config", "store", "tokens"],
    ),
    // The doors returned mail comes in by (IMAP, Maildir): read, hand to the service.
    ("intake", &["bounces", "config", "store"]),
    // When to run, not what: the digests service is reached through a trait app implements.
    ("scheduler", &["model", "clock", "health", "config", "cron"]),
    (
        "http",
        &[
            "model",
            "articles",
            "site",
            "feeds",
            "store",
            "subscriptions",
            "templates",
            "tokens",
            "alive",
            "health",
            "digests",
            "cron",
            "clock",
            "bounce",
            "bounces",
            "config",
        ],
    ),
    // The composition root and the command line see everything.
    ("app", &["*"]),
    ("cli", &["*"]),
];

/// Arrows the issue that wrote the map down named one by one; checked on their own so
/// that widening the map above cannot quietly allow them again.
const NEVER: &[(&str, &str)] = &[
    ("email", "store"),
    ("email", "delivery"),
    ("http", "delivery"),
    ("http", "scheduler"),
    ("config", "scheduler"),
    ("digest", "store"),
    ("digest", "email"),
    ("feeds", "store"),
    ("feeds", "http"),
    ("scheduler", "store"),
    ("scheduler", "email"),
    ("store", "http"),
    ("store", "email"),
    ("store", "delivery"),
    ("scheduler", "digests"),
    ("digests", "scheduler"),
    ("digests", "http"),
    ("digests", "delivery"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/http/ops.rs` → `http`,
/// `src/config.rs` → `config`; `None` for `lib.rs` and `main.rs`.
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The code of a file without its comments and its unit tests.
fn code(text: &str) -> String {
    let mut kept = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The modules named after each `crate::` in `code`, with `crate::{a::x, b}` groups
/// read item by item.
fn arrows(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue; // `my_crate::`, not this crate
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i + 1..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && is_ident(c) => {
                        let name: String =
                            group[i..].chars().take_while(|&c| is_ident(c)).collect();
                        found.insert(name);
                        item_start = false;
                    }
                    c if item_start && !c.is_whitespace() => item_start = false,
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Every module's arrows to other modules, with the files each arrow is written in.
fn graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(&file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let targets = graph.entry(from.clone()).or_default();
        for to in arrows(&code(&text)) {
            if to != from {
                let shown = file.strip_prefix(src()).unwrap().display().to_string();
                targets.entry(to).or_default().insert(shown);
            }
        }
    }
    graph
}

fn allowed(from: &str) -> Option<&'static [&'static str]> {
    MAP.iter().find(|(m, _)| *m == from).map(|(_, uses)| *uses)
}

#[test]
fn every_arrow_between_modules_is_one_the_map_allows() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        let Some(uses) = allowed(&from) else {
            wrong.push(format!("src/{from}: a module the map does not place"));
            continue;
        };
        for (to, files) in targets {
            let ok = uses.contains(&"*") || uses.contains(&to.as_str());
            if !ok {
                let files: Vec<_> = files.into_iter().collect();
                wrong.push(format!("{from} → {to} (in {})", files.join(", ")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows ARCHITECTURE.md does not allow:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_arrows_named_in_the_issue_stay_absent() {
    let graph = graph();
    let present: Vec<_> = NEVER
        .iter()
        .filter(|(from, to)| graph.get(*from).is_some_and(|t| t.contains_key(*to)))
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(present.is_empty(), "forbidden arrows: {present:?}");
    for (from, to) in NEVER {
        let uses = allowed(from).unwrap_or_else(|| panic!("{from} is not in the map"));
        assert!(
            !uses.contains(to) && !uses.contains(&"*"),
            "the map allows {from} → {to}"
        );
    }
}

#[test]
fn only_the_store_speaks_sql() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let outside: Vec<_> = files
        .iter()
        .filter(|f| module_of(f).as_deref() != Some("store"))
        .filter(|f| code(&std::fs::read_to_string(f).unwrap()).contains("sqlx"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(outside.is_empty(), "sqlx outside src/store: {outside:?}");
}

#[test]
fn the_reader_sees_the_arrows_that_exist() {
    // The scanner itself: grouped, nested and inline paths are read, other crates'
    // `crate::` suffixes and comments are not.
    let sample = "use crate::a::X;\nuse crate::{b::{Y, Z}, c, d::W};\n// crate::e\n\
                  let x = crate::f::g();\nuse other_crate::h;\n";
    let got: Vec<_> = arrows(&code(sample)).into_iter().collect();
    assert_eq!(got, ["a", "b", "c", "d", "f"]);
    // And on the real tree: the composition root uses the store, and every module the
    // map places exists.
    let graph = graph();
    assert!(graph["app"].contains_key("store"), "app → store not seen");
    for (module, _) in MAP {
        let exists = src().join(module).is_dir() || src().join(format!("{module}.rs")).is_file();
        assert!(exists, "the map places {module}, which src/ does not have");
    }
}
