//! Inputs the fuzzer found (fuzz/README.md): none may panic, errors must point at a
//! line that exists, and what parses must be a usable article.

use std::path::PathBuf;

use crier::articles::parse::parse_file;
use crier::audience::{Matcher, Taxonomy};

#[test]
fn fuzz_findings_parse_or_fail_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let taxonomy = Taxonomy::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("subscribers/audiences.toml"),
    )
    .unwrap();
    let matcher = Matcher::new(&taxonomy);
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        seen += 1;
        if name.ends_with(".toml") {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(t) = Taxonomy::parse(&text, &name) {
                Matcher::new(&t).audiences_in("Developers and HR teams.");
            }
            continue;
        }
        // Lines as an editor counts them: every line end, CR alone included.
        let lines = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
            .count()
            + 1;
        match parse_file(&name, &bytes) {
            Ok(article) => {
                assert!(!article.slug.is_empty(), "{name}");
                assert!(!article.title.trim().is_empty(), "{name}");
                assert!(!article.title.contains('\r'), "{name}: CR in the title");
                assert!(article.reading_minutes >= 1, "{name}");
                assert!(!article.html.contains("<script"), "{name}");
                let _ = matcher.classify(&article);
            }
            Err(error) => {
                assert!(!error.message.is_empty(), "{name}");
                if let Some(line) = error.line {
                    assert!(
                        line >= 1 && line <= lines,
                        "{name}: error on line {line} of a {lines}-line file: {}",
                        error.message
                    );
                }
            }
        }
    }
    assert!(seen >= 10, "the fuzz fixtures are missing ({seen} found)");
}
