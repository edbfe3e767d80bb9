//! Message bodies encoded once per content. Turning a 20 KB body into
//! quoted-printable for every recipient was the largest cost of sending a digest, yet
//! only the markers differ between recipients. So the text between the markers is
//! encoded once, and each message encodes only its own values and joins the pieces
//! with soft line breaks (`=` CRLF), which decode to nothing.

use super::{Segment, segments, value};

/// Encoded lines stay one short of quoted-printable's 76, leaving room for the `=`
/// of a soft break where a piece ends mid-line.
const LINE: usize = 75;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Encoded(Vec<u8>),
    /// `line`: in a text body, what stands before the marker on its line, for
    /// [`super::flowed::fill_value`].
    Marker {
        key: String,
        raw: String,
        line: String,
    },
}

/// A body ready to be quoted-printable for any recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    pieces: Vec<Piece>,
    html: bool,
}

/// Text with CRLF line ends, as messages need and as lettre would send it: CRLF, a
/// lone CR and a lone LF each become one CRLF, in one pass.
fn crlf(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 32 + 2);
    let mut start = 0;
    for at in memchr::memchr2_iter(b'\r', b'\n', bytes) {
        if at < start {
            // The LF of a CRLF already written.
            continue;
        }
        out.push_str(&text[start..at]);
        out.push_str("\r\n");
        start = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
    }
    out.push_str(&text[start..]);
    out
}

fn encode(text: &str) -> Vec<u8> {
    let options = quoted_printable::Options::default()
        .line_length_limit(LINE)
        .input_mode(quoted_printable::InputMode::Text);
    quoted_printable::encode_with_options(crlf(text), options).into_bytes()
}

impl EncodedBody {
    /// Encodes the text of `template`; `html` escapes the values filled in later.
    pub fn new(template: &str, html: bool) -> EncodedBody {
        let mut line = String::new();
        let pieces = segments(template)
            .into_iter()
            .map(|segment| match segment {
                Segment::Text(text) => {
                    match text.rfind('\n') {
                        Some(at) => line = text[at + 1..].to_string(),
                        None => line.push_str(text),
                    }
                    Piece::Encoded(encode(text))
                }
                Segment::Marker { key, raw } => {
                    let piece = Piece::Marker {
                        key: key.to_string(),
                        raw: raw.to_string(),
                        line: if html { String::new() } else { line.clone() },
                    };
                    // What follows a marker is wrapped as if after a wide word.
                    line.push_str(raw);
                    piece
                }
            })
            .collect();
        EncodedBody { pieces, html }
    }

    /// The quoted-printable body for one recipient's values. It decodes to exactly
    /// what [`super::fill`] gives, with CRLF line ends.
    pub fn fill(&self, vars: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
        let size: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Encoded(bytes) => bytes.len(),
                Piece::Marker { .. } => 256,
            })
            .sum();
        let mut out = Vec::with_capacity(size);
        for piece in &self.pieces {
            let encoded;
            let bytes = match piece {
                Piece::Encoded(bytes) => bytes,
                Piece::Marker { key, raw, line } => {
                    let value = value(key, raw, vars, self.html);
                    encoded = if self.html {
                        encode(&value)
                    } else {
                        encode(&super::flowed::fill_value(&value, line))
                    };
                    &encoded
                }
            };
            if bytes.is_empty() {
                continue;
            }
            if !out.is_empty() && !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"=\r\n");
            }
            out.extend_from_slice(bytes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: &str, vars: &serde_json::Value, html: bool) -> Vec<u8> {
        let vars = vars.as_object().unwrap();
        let encoded = EncodedBody::new(template, html).fill(vars);
        let text = std::str::from_utf8(&encoded).unwrap();
        for line in text.split("\r\n") {
            assert!(line.len() <= 76, "a line of {} bytes: {line:?}", line.len());
            assert!(line.is_ascii(), "{line:?}");
        }
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "bare line ends"
        );
        let decoded =
            quoted_printable::decode(&encoded, quoted_printable::ParseMode::Strict).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            crlf(&super::super::fill(template, vars, html))
        );
        encoded
    }

    #[test]
    fn every_line_end_becomes_one_crlf() {
        assert_eq!(crlf("a\nb\r\nc\rd\r\r\n\n"), "a\r\nb\r\nc\r\nd\r\n\r\n\r\n");
        assert_eq!(crlf("\r\n"), "\r\n");
        assert_eq!(crlf("\n\r"), "\r\n\r\n");
        assert_eq!(crlf("no line end — café"), "no line end — café");
        assert_eq!(crlf(""), "");
    }

    #[test]
    fn pieces_and_values_decode_to_the_filled_body() {
        let long = "word ".repeat(40);
        let vars = serde_json::json!({
            "name": "Zoë = \"Z\" & <co>",
            "unsubscribe_url": format!("https://news.example.test/unsubscribe?token={}", "a.b-c_d=".repeat(30)),
            "greeting": "Hello Zoë.",
        });
        let templates = [
            "[[crier:greeting]]",
            "[[crier:greeting]]\n\nIntro line.\n",
            &format!("{long}[[crier:unsubscribe_url]]{long}\n"),
            &format!("<a href=\"[[crier:unsubscribe_url]]\">{long}</a>\r\n<p>[[crier:name]] </p>"),
            "trailing space   \n[[crier:name]]\n— café —\n",
            "[[crier:missing]] and [[crier:open",
            "no markers at all, but a long line: ===========================================================================",
            "",
        ];
        for template in templates {
            check(template, &vars, false);
            check(template, &vars, true);
        }
        // The text between markers is encoded once, as written.
        let body = String::from_utf8(check("a\n[[crier:name]]\nb", &vars, true)).unwrap();
        assert!(
            body.starts_with("a\r\nZo=C3=AB =3D &quot;Z&quot; &amp; &lt;co&gt;=\r\n\r\nb"),
            "{body}"
        );
    }
}
