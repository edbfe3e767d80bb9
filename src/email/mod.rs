//! Email: rendering messages from the templates into frozen content (`render`), and
//! composing the final MIME message for one outbox row (`compose`). Bodies hold
//! `[[crier:key]]` markers that each recipient's values fill in, so content shared by
//! many recipients is rendered once. Email works on model types with the templates
//! and the config's values; it must not use the store, delivery, the digest planner or
//! http. `app` hands its messages to delivery.

pub mod compose;
pub mod encoded;
pub mod flowed;
pub mod render;

pub use compose::{Composer, DkimKeyError, DkimSettings, Encoded, VerpSettings};

/// A piece of a body: text, or a `[[crier:key]]` marker (`raw` is the marker as
/// written, kept when no value fills it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Marker { key: &'a str, raw: &'a str },
}

/// Splits a body at its markers. An unterminated marker is text.
pub(crate) fn segments(template: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("[[crier:") {
        let after = &rest[start + 8..];
        let Some(end) = after.find("]]") else {
            break;
        };
        if start > 0 {
            out.push(Segment::Text(&rest[..start]));
        }
        out.push(Segment::Marker {
            key: &after[..end],
            raw: &rest[start..start + 8 + end + 2],
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

/// The value for a marker: from a JSON object of strings, escaped for HTML when
/// `html`, or the marker itself when there is none.
pub(crate) fn value<'a>(
    key: &str,
    raw: &'a str,
    vars: &'a serde_json::Map<String, serde_json::Value>,
    html: bool,
) -> std::borrow::Cow<'a, str> {
    match vars.get(key).and_then(|v| v.as_str()) {
        Some(value) if html => {
            let mut escaped = String::with_capacity(value.len() + 16);
            let _ = pulldown_cmark_escape::escape_html(&mut escaped, value);
            escaped.into()
        }
        Some(value) => value.into(),
        None => raw.into(),
    }
}

/// Fills `[[crier:key]]` markers from a JSON object of strings; `html` escapes values,
/// and in text a value too long for its line is wrapped as flowed text.
pub fn fill(
    template: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
    html: bool,
) -> String {
    let mut out = String::with_capacity(template.len() + 128);
    for segment in segments(template) {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Marker { key, raw } if html => out.push_str(&value(key, raw, vars, true)),
            Segment::Marker { key, raw } => {
                let line = &out[out.rfind('\n').map_or(0, |at| at + 1)..];
                let filled = flowed::fill_value(&value(key, raw, vars, false), line).into_owned();
                out.push_str(&filled);
            }
        }
    }
    out
}

/// The marker for a per-recipient value.
pub fn marker(key: &str) -> String {
    format!("[[crier:{key}]]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_filled_and_escaped_in_html() {
        let vars = serde_json::json!({"name": "Ada & <Bob>", "url": "https://x.test/u?t=1.u.2"});
        let vars = vars.as_object().unwrap();
        assert_eq!(
            fill("Hi [[crier:name]], [[crier:url]]", vars, false),
            "Hi Ada & <Bob>, https://x.test/u?t=1.u.2"
        );
        assert_eq!(
            fill("<p>[[crier:name]]</p>", vars, true),
            "<p>Ada &amp; &lt;Bob&gt;</p>"
        );
        assert_eq!(
            fill("[[crier:missing]] [[crier:open", vars, false),
            "[[crier:missing]] [[crier:open"
        );
        assert_eq!(fill("plain", vars, true), "plain");
    }
}
