//! Email: rendering messages from the templates into frozen content (`render`), and
//! composing the final MIME message for one outbox row (`compose`). Bodies hold
//! `[[crier:key]]` markers that each recipient's values fill in, so content shared by
//! many recipients is rendered once.

pub mod compose;
pub mod render;

pub use compose::{Composer, DkimSettings};

/// Fills `[[crier:key]]` markers from a JSON object of strings; `html` escapes values.
pub fn fill(
    template: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
    html: bool,
) -> String {
    if !template.contains("[[crier:") {
        return template.to_string();
    }
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find("[[crier:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 8..];
        let Some(end) = after.find("]]") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        match vars.get(key).and_then(|v| v.as_str()) {
            Some(value) if html => {
                let _ = pulldown_cmark_escape::escape_html(&mut out, value);
            }
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 8 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
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
