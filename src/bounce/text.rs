//! Small scanners over the text of a report: addresses, status codes, the
//! `Name: value` field groups of RFC 3464 and RFC 5965 bodies. Hand-written rather
//! than regular expressions: each is a few lines, never backtracks, and stops at a
//! bound.

/// The most addresses taken from one text.
const MAX_ADDRESSES: usize = 64;
/// The longest address kept (RFC 5321 allows 254 in a path).
const MAX_ADDRESS: usize = 320;
/// The most fields read from one part, over all its groups.
const MAX_FIELDS: usize = 2_000;

/// A character that may stand in the local part of an address (dot-atom, plus
/// the letters of internationalised addresses).
fn local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// A character that may stand in a domain (or an address literal's IPv4 form).
fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '.'
}

/// The bare addresses in `text`, lower-cased, in order, each once.
/// `"Ann" <Ann@Example.org>`, `rfc822;ann@example.org` and `(ann@example.org)` all
/// give `ann@example.org`. A domain needs a dot; `postmaster@localhost` is no
/// address of a subscriber.
pub fn addresses_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find('@').map(|i| i + from) {
        from = at + 1;
        let left = text[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| local_char(c))
            .last()
            .map_or(at, |(i, _)| i);
        let right = text[at + 1..]
            .char_indices()
            .find(|&(_, c)| !domain_char(c))
            .map_or(text.len(), |(i, _)| at + 1 + i);
        let local = text[left..at].trim_matches('.');
        let domain = text[at + 1..right].trim_matches(['.', '-']);
        if local.is_empty() || !domain.contains('.') || local.len() + domain.len() >= MAX_ADDRESS {
            continue;
        }
        let address = format!("{local}@{domain}").to_lowercase();
        if !out.contains(&address) {
            out.push(address);
            if out.len() == MAX_ADDRESSES {
                break;
            }
        }
    }
    out
}

/// The first address in `text`.
pub fn first_address(text: &str) -> Option<String> {
    addresses_in(text).into_iter().next()
}

/// `value` without a leading type and semicolon: `rfc822; a@b` → `a@b`,
/// `smtp; 550 …` → `550 …`, `X-Postfix; host …` → `host …`. A value whose part
/// before the first `;` is not one token is kept whole.
pub fn strip_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest))
            if !kind.trim().is_empty()
                && kind
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            rest.trim()
        }
        _ => value.trim(),
    }
}

fn digits_at(bytes: &[u8], at: usize, min: usize, max: usize) -> Option<usize> {
    let n = bytes[at..]
        .iter()
        .take(max + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    (min..=max).contains(&n).then_some(n)
}

/// The first enhanced status code (RFC 3463: `class.subject.detail`, class 2, 4
/// or 5) standing alone in `text`, with its byte offset.
pub fn enhanced_status(text: &str) -> Option<(usize, String)> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b'2' | b'4' | b'5') || bytes.get(i + 1) != Some(&b'.') {
            continue;
        }
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.') {
            continue;
        }
        let Some(a) = digits_at(bytes, i + 2, 1, 3) else {
            continue;
        };
        let dot = i + 2 + a;
        if bytes.get(dot) != Some(&b'.') {
            continue;
        }
        let Some(c) = digits_at(bytes, dot + 1, 1, 3) else {
            continue;
        };
        let end = dot + 1 + c;
        if bytes.get(end).is_some_and(|&b| {
            b.is_ascii_alphanumeric()
                || b == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)
        }) {
            continue;
        }
        return Some((i, text[i..end].to_string()));
    }
    None
}

/// The first SMTP reply code (`550`, `452`, `554:`) standing alone in `text`:
/// after a line start, a space, a quote or `(`, and followed by a space, `-`, `:`
/// or the end.
pub fn reply_code(text: &str) -> Option<(usize, u16)> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b'4' | b'5') {
            continue;
        }
        if i > 0
            && !matches!(
                bytes[i - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'\'' | b'"' | b'(' | b'['
            )
        {
            continue;
        }
        if digits_at(bytes, i, 3, 3).is_none() {
            continue;
        }
        if !bytes
            .get(i + 3)
            .is_none_or(|b| matches!(b, b' ' | b'-' | b':' | b'\r' | b'\n'))
        {
            continue;
        }
        let code = u16::from(b - b'0') * 100
            + u16::from(bytes[i + 1] - b'0') * 10
            + u16::from(bytes[i + 2] - b'0');
        return Some((i, code));
    }
    None
}

/// One group of fields: names as written, values unfolded and trimmed.
pub type Group = Vec<(String, String)>;

/// The field groups of a `message/delivery-status` or `message/feedback-report`
/// body: `Name: value` lines, folded lines joined, groups parted by blank lines.
/// Lines that are not fields are skipped.
pub fn groups(body: &str) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut current: Group = Vec::new();
    let mut count = 0;
    for line in body.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains(' ') {
            continue;
        }
        count += 1;
        if count > MAX_FIELDS {
            break;
        }
        current.push((name.to_string(), value.trim().to_string()));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The value of the first field `name` (without case) in `group`.
pub fn field<'g>(group: &'g Group, name: &str) -> Option<&'g str> {
    group
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether `lower` (already lower-cased) contains one of `phrases`.
pub fn contains_any(lower: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| lower.contains(p))
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Whether `word` stands in `lower` as a whole word (letters on neither side).
pub fn has_word(lower: &str, word: &str) -> bool {
    let mut from = 0;
    while let Some(i) = lower[from..].find(word).map(|i| i + from) {
        let before = lower[..i].chars().next_back();
        let after = lower[i + word.len()..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return true;
        }
        from = i + word.len();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_out_bare_lowercased_and_once() {
        assert_eq!(
            addresses_in("\"Ann\" <Ann@Example.ORG>, rfc822;bob@example.net (Ann@example.org)"),
            ["ann@example.org", "bob@example.net"]
        );
        assert_eq!(
            addresses_in("<bounces+12-0123456789abcdef@news.example.org>"),
            ["bounces+12-0123456789abcdef@news.example.org"]
        );
        assert_eq!(
            addresses_in("mail to user@example.com."),
            ["user@example.com"]
        );
        assert!(addresses_in("postmaster@localhost and a @ sign and x@").is_empty());
        assert!(addresses_in("@@@.@.").is_empty());
        assert_eq!(addresses_in("<ünï@exämple.org>"), ["ünï@exämple.org"]);
    }

    #[test]
    fn addresses_are_bounded() {
        let many: String = (0..500).map(|i| format!("u{i}@example.org ")).collect();
        assert_eq!(addresses_in(&many).len(), MAX_ADDRESSES);
        let long = format!("{}@example.org", "a".repeat(400));
        assert!(addresses_in(&long).is_empty());
    }

    #[test]
    fn types_are_stripped_only_when_they_are_one_token() {
        assert_eq!(strip_type("rfc822; User@example.org"), "User@example.org");
        assert_eq!(strip_type("smtp;550 5.1.1 no"), "550 5.1.1 no");
        assert_eq!(strip_type("X-Postfix; host said"), "host said");
        assert_eq!(
            strip_type("550 no such user; try again"),
            "550 no such user; try again"
        );
        assert_eq!(strip_type("; x"), "; x");
    }

    #[test]
    fn enhanced_status_codes_stand_alone() {
        assert_eq!(
            enhanced_status("said: 550 5.1.1 <a@b.c>: unknown"),
            Some((10, "5.1.1".to_string()))
        );
        assert_eq!(
            enhanced_status("550 5.1.10 RESOLVER").map(|s| s.1),
            Some("5.1.10".into())
        );
        assert_eq!(
            enhanced_status("4.2.2 full").map(|s| s.1),
            Some("4.2.2".into())
        );
        assert_eq!(enhanced_status("host 192.0.2.5.1.1"), None);
        assert_eq!(enhanced_status("version 1.5.1.1 and v5.1.1"), None);
        assert_eq!(enhanced_status("3.1.1 or 5.1 or 5..1"), None);
        assert_eq!(enhanced_status("5.1.1."), Some((0, "5.1.1".into())));
    }

    #[test]
    fn reply_codes_stand_alone() {
        assert_eq!(reply_code("554: delivery error"), Some((0, 554)));
        assert_eq!(reply_code("said: 452 too many"), Some((6, 452)));
        assert_eq!(reply_code("mta451.example 4500 1.450 x450 45"), None);
        assert_eq!(reply_code("550-5.1.1"), Some((0, 550)));
    }

    #[test]
    fn field_groups_unfold_and_part_at_blank_lines() {
        let body = "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; a@example.com\r\nAction: failed\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n  user unknown\r\nnot a field\r\n\r\n\r\nFinal-Recipient: rfc822; b@example.com\n";
        let g = groups(body);
        assert_eq!(g.len(), 3);
        assert_eq!(field(&g[0], "reporting-mta"), Some("dns; mx.example.org"));
        assert_eq!(
            field(&g[1], "Diagnostic-Code"),
            Some("smtp; 550 5.1.1 user unknown")
        );
        assert_eq!(
            field(&g[2], "final-recipient"),
            Some("rfc822; b@example.com")
        );
        assert_eq!(field(&g[2], "Action"), None);
    }

    #[test]
    fn words_and_prefixes() {
        assert!(has_word("please remove me", "remove"));
        assert!(!has_word("removing it", "remove"));
        assert!(has_word("unsubscribe", "unsubscribe"));
        assert_eq!(prefix("aé", 2), "a");
        assert_eq!(prefix("abc", 5), "abc");
    }
}
