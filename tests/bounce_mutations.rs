//! `bounce::classify` against damaged messages: every corpus file mutated in a
//! few thousand seeded ways (bytes flipped, cut short, headers repeated, lines
//! dropped, boundaries swapped), the fuzzer's regression inputs, and inputs built
//! to be large. Each must give a bounded report and never panic.

use std::path::{Path, PathBuf};

use crier::bounce::{MAX_FINDINGS, REASON_MAX, Report, classify};

/// A small seeded generator (xorshift64*), so that every run tries the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

/// Asserts the bounds every report keeps.
fn bounded(what: &str, report: &Report) {
    assert!(
        (1..=MAX_FINDINGS).contains(&report.findings.len()),
        "{what}: {} findings",
        report.findings.len()
    );
    assert!(report.delivered_to.len() <= 32, "{what}: delivered_to");
    for address in &report.delivered_to {
        assert!(
            address.contains('@') && address.len() <= 320,
            "{what}: {address:?}"
        );
        assert_eq!(address, &address.to_lowercase(), "{what}");
    }
    for f in &report.findings {
        assert!(!f.reason.is_empty(), "{what}: empty reason");
        assert!(
            f.reason.chars().count() <= REASON_MAX,
            "{what}: long reason"
        );
        assert!(
            !f.reason.contains(['\n', '\r']),
            "{what}: reason {:?}",
            f.reason
        );
        if let Some(r) = &f.recipient {
            assert!(r.contains('@') && r.len() <= 320, "{what}: recipient {r:?}");
            assert_eq!(r, &r.to_lowercase(), "{what}");
        }
        if let Some(id) = &f.message_id {
            assert!(
                id.starts_with('<') && id.ends_with('>') && id.len() <= 1000,
                "{what}: {id:?}"
            );
        }
        if let Some(s) = &f.status {
            let parts: Vec<_> = s.split('.').collect();
            assert!(
                parts.len() == 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
                "{what}: status {s:?}"
            );
        }
    }
}

fn mutate(rng: &mut Rng, raw: &[u8], corpus: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = raw.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            // Flip a few bytes.
            0 => {
                for _ in 0..1 + rng.below(8) {
                    if !out.is_empty() {
                        let i = rng.below(out.len());
                        out[i] ^= 1 << rng.below(8);
                    }
                }
            }
            // Cut short.
            1 => out.truncate(rng.below(out.len() + 1)),
            // Repeat the header block (every header twice).
            2 => {
                let end = out
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .unwrap_or(out.len());
                let head = out[..end].to_vec();
                out.splice(0..0, head.iter().copied().chain(*b"\n"));
            }
            // Drop a line.
            3 => {
                let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
                let skip = rng.below(lines.len());
                out = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .flat_map(|(_, l)| l.iter().copied().chain(*b"\n"))
                    .collect();
            }
            // Insert bytes that matter to MIME.
            4 => {
                const PIECES: &[&[u8]] = &[
                    b"\n--",
                    b"--\n",
                    b"\n\n",
                    b"\r",
                    b"\0",
                    b":",
                    b";",
                    b"<",
                    b">",
                    b"@",
                    b"Content-Type: multipart/report; boundary=\"x\"\n",
                    b"Content-Type: message/rfc822\n\n",
                    b"Content-Transfer-Encoding: base64\n",
                    b"=?utf-8?b?",
                    b"\xff\xfe",
                    b"Action: failed\nStatus: 5.1.1\n",
                    b"\n\t",
                    b"5.",
                    b"550 ",
                ];
                let piece = PIECES[rng.below(PIECES.len())];
                let at = rng.below(out.len() + 1);
                out.splice(at..at, piece.iter().copied());
            }
            // Splice in a piece of another fixture.
            5 => {
                let (_, other) = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                let at = rng.below(out.len() + 1);
                out.splice(at..at, other[from..to].iter().copied());
            }
            // Swap LF for CRLF or the other way.
            6 => {
                out = if out.contains(&b'\r') {
                    out.into_iter().filter(|&b| b != b'\r').collect()
                } else {
                    out.iter()
                        .flat_map(|&b| {
                            if b == b'\n' {
                                vec![b'\r', b'\n']
                            } else {
                                vec![b]
                            }
                        })
                        .collect()
                };
            }
            // Duplicate a range.
            _ => {
                let from = rng.below(out.len() + 1);
                let to = from + rng.below(out.len() - from + 1).min(4096);
                let piece = out[from..to].to_vec();
                out.splice(to..to, piece);
            }
        }
    }
    out
}

#[test]
fn mutated_corpus_messages_give_bounded_reports() {
    let corpus = corpus();
    assert!(corpus.len() >= 32);
    let mut rng = Rng(0x5eed_b0b5_c0ff_ee01);
    let mut cases = 0;
    for (name, raw) in &corpus {
        bounded(name, &classify(raw));
        for i in 0..100 {
            let mutated = mutate(&mut rng, raw, &corpus);
            bounded(&format!("{name} mutation {i}"), &classify(&mutated));
            cases += 1;
        }
    }
    assert!(cases >= 3_000);
}

#[test]
fn fuzzer_regressions_give_bounded_reports() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-bounce");
    let mut seen = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        bounded(&path.display().to_string(), &classify(&raw));
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn large_inputs_are_read_only_so_far() {
    // Thousands of recipients in one report, and a body far past the input cap.
    let mut raw = String::from(
        "From: MAILER-DAEMON@example.com\nTo: bounces+1-0123456789abcdef@news.example.org\n\
         Subject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; \
         report-type=delivery-status; boundary=\"b\"\n\n--b\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; example.com\n\n",
    );
    for i in 0..5_000 {
        raw.push_str(&format!(
            "Final-Recipient: rfc822; user{i}@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        ));
    }
    raw.push_str("--b--\n");
    let report = classify(raw.as_bytes());
    bounded("many recipients", &report);
    assert_eq!(report.findings.len(), MAX_FINDINGS);

    let mut huge = String::from("From: postmaster@example.com\nSubject: failure notice\n\n");
    while huge.len() < 12 * 1024 * 1024 {
        huge.push_str("<someone@example.com>: 550 5.1.1 no such user here, and many more words\n");
    }
    let report = classify(huge.as_bytes());
    bounded("huge", &report);

    let mut parts = String::from("Content-Type: multipart/mixed; boundary=\"p\"\n\n");
    for _ in 0..20_000 {
        parts.push_str("--p\nContent-Type: text/rfc822-headers\n\nTo: a@example.com\n\n");
    }
    bounded("many parts", &classify(parts.as_bytes()));

    let mut nested = String::new();
    for i in 0..2_000 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"n{i}\"\n\n--n{i}\n"
        ));
    }
    bounded("nested", &classify(nested.as_bytes()));
}

#[test]
fn empty_and_headerless_inputs_are_unknown() {
    for raw in [&b""[..], b"\n\n\n", b"\0\0\0", b"no colon here at all"] {
        let report = classify(raw);
        bounded("empty", &report);
        assert!(report.delivered_to.is_empty());
    }
}
