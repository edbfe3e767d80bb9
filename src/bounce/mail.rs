//! The MIME walk: one raw message through `mail-parser` into [`Mail`], the owned
//! facts the classifiers read (headers, the report parts, the returned message,
//! the human-readable text). Everything here is bounded: parts walked, headers
//! kept, text kept.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use super::text::{addresses_in, prefix};

/// The most MIME parts looked at.
const MAX_PARTS: usize = 64;
/// The most top-level headers kept.
const MAX_HEADERS: usize = 200;
/// The most bytes of human-readable text kept (the notification, not the
/// returned message).
pub const MAX_TEXT: usize = 64 * 1024;
/// The most bytes of a report part (`message/delivery-status`, …) read.
const MAX_REPORT: usize = 256 * 1024;
/// The most addresses kept in `delivered_to`.
const MAX_DELIVERED_TO: usize = 32;
/// The longest Message-ID kept (a header line's limit).
const MAX_MESSAGE_ID: usize = 998;

/// The headers that say where a report was delivered.
const DELIVERED_TO: &[&str] = &[
    "To",
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
];

/// What the classifiers need of one message.
#[derive(Debug, Default)]
pub struct Mail {
    /// Top-level headers, names as written, values as text.
    pub headers: Vec<(String, String)>,
    pub subject: String,
    /// The `From` addresses, bare and lower-cased, and the display name.
    pub from: Vec<String>,
    pub from_name: String,
    pub delivered_to: Vec<String>,
    /// `In-Reply-To`, else the first of `References`, with angle brackets.
    pub in_reply_to: Option<String>,
    /// The body of a `message/delivery-status` (or global) part.
    pub delivery_status: Option<String>,
    /// The body of a `message/feedback-report` part.
    pub feedback_report: Option<String>,
    /// The message a report returns, whole or its headers only.
    pub returned: Option<Returned>,
    /// The human-readable text: the text parts of the top message, HTML made text.
    pub text: String,
}

/// The headers of a returned message that name the delivery.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Returned {
    pub message_id: Option<String>,
    pub to: Vec<String>,
    pub from: Vec<String>,
    pub return_path: Option<String>,
    /// Where a mailbox provider noted the original recipient of a redacted `To`
    /// (Outlook.com's `X-HmXmrOriginalRecipient`).
    pub original_recipient: Option<String>,
}

impl Mail {
    /// The value of the first top-level header `name` (without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `raw` into a [`Mail`]; `None` when it holds no header at all.
pub fn read(raw: &[u8]) -> Option<Mail> {
    let message = MessageParser::default().parse(raw)?;
    let root = message.parts.first()?;
    let mut mail = Mail {
        headers: headers_of(root.headers.iter().map(|h| (h.name(), h.value()))),
        ..Mail::default()
    };
    mail.subject = message.subject().unwrap_or_default().trim().to_string();
    if let Some(from) = message.from() {
        for addr in from.iter() {
            mail.from
                .extend(addr.address().map(addresses_in).unwrap_or_default());
            if mail.from_name.is_empty() {
                mail.from_name = addr.name().unwrap_or_default().trim().to_string();
            }
        }
    }
    mail.in_reply_to = first_id(message.in_reply_to()).or_else(|| first_id(message.references()));
    for name in DELIVERED_TO {
        for (n, value) in &mail.headers {
            if n.eq_ignore_ascii_case(name) {
                for address in addresses_in(value) {
                    if !mail.delivered_to.contains(&address) {
                        mail.delivered_to.push(address);
                    }
                }
            }
        }
    }
    walk(&message, &mut mail);
    if let Some(path) = mail.returned.as_ref().and_then(|r| r.return_path.clone())
        && !mail.delivered_to.contains(&path)
    {
        mail.delivered_to.push(path);
    }
    mail.delivered_to.truncate(MAX_DELIVERED_TO);
    Some(mail)
}

/// Headers as `(name, text)`, at most [`MAX_HEADERS`].
fn headers_of<'a>(
    headers: impl Iterator<Item = (&'a str, &'a HeaderValue<'a>)>,
) -> Vec<(String, String)> {
    headers
        .take(MAX_HEADERS)
        .map(|(name, value)| (name.to_string(), value_text(value)))
        .collect()
}

/// A header's value as one text: addresses as `name <address>`, lists joined.
fn value_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        HeaderValue::Address(address) => address
            .iter()
            .map(|a| match (a.name(), a.address()) {
                (Some(name), Some(address)) => format!("{name} <{address}>"),
                (None, Some(address)) => format!("<{address}>"),
                (Some(name), None) => name.to_string(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::ContentType(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        },
        _ => String::new(),
    }
}

fn first_id(value: &HeaderValue<'_>) -> Option<String> {
    let id = match value {
        HeaderValue::Text(id) => id.as_ref(),
        HeaderValue::TextList(ids) => ids.first()?.as_ref(),
        _ => return None,
    };
    bracketed(id)
}

/// `id` with its angle brackets, when it is a plausible Message-ID.
pub fn bracketed(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= MAX_MESSAGE_ID && !id.contains(char::is_whitespace))
        .then(|| format!("<{id}>"))
}

/// The content type of a part, lower-cased: `("message", "delivery-status")`.
fn content_type(part: &mail_parser::MessagePart<'_>) -> (String, String) {
    part.content_type()
        .map(|ct| {
            (
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            )
        })
        .unwrap_or_else(|| ("text".into(), "plain".into()))
}

/// Fills the report parts, the returned message and the text from the parts of
/// the top message (not those inside a returned message).
fn walk(message: &Message<'_>, mail: &mut Mail) {
    for part in message.parts.iter().take(MAX_PARTS) {
        let (ctype, sub) = content_type(part);
        let report = ctype == "message"
            && matches!(sub.as_str(), "delivery-status" | "global-delivery-status");
        let feedback = ctype == "message" && sub == "feedback-report";
        let returned = matches!(
            (ctype.as_str(), sub.as_str()),
            ("message", "rfc822" | "global" | "global-headers") | ("text", "rfc822-headers")
        );
        if report && mail.delivery_status.is_none() {
            mail.delivery_status = Some(lossy(part.contents(), MAX_REPORT));
        } else if feedback && mail.feedback_report.is_none() {
            mail.feedback_report = Some(lossy(part.contents(), MAX_REPORT));
        } else if returned && mail.returned.is_none() {
            mail.returned = match &part.body {
                PartType::Message(inner) => Some(returned_of(inner)),
                _ => returned_in(part.contents()),
            };
        }
    }
    let mut text = String::new();
    for i in 0..message.text_body.len().min(4) {
        if let Some(body) = message.body_text(i) {
            text.push_str(&body);
            text.push('\n');
        }
        if text.len() >= MAX_TEXT {
            break;
        }
    }
    mail.text = prefix(&text, MAX_TEXT).to_string();
}

fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

fn returned_of(message: &Message<'_>) -> Returned {
    let Some(root) = message.parts.first() else {
        return Returned::default();
    };
    let headers = headers_of(root.headers.iter().map(|h| (h.name(), h.value())));
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Returned {
        message_id: message.message_id().and_then(bracketed),
        to: get("To").map(addresses_in).unwrap_or_default(),
        from: get("From").map(addresses_in).unwrap_or_default(),
        return_path: get("Return-Path").and_then(|v| addresses_in(v).into_iter().next()),
        original_recipient: get("X-HmXmrOriginalRecipient")
            .and_then(|v| addresses_in(v).into_iter().next()),
    }
}

/// The returned message's headers at the start of `bytes` (a `text/rfc822-headers`
/// part, or the copy a non-standard bounce quotes after its marker line).
pub fn returned_in(bytes: &[u8]) -> Option<Returned> {
    let bytes = &bytes[..bytes.len().min(MAX_REPORT)];
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let message = MessageParser::default().parse_headers(&bytes[start..])?;
    let returned = returned_of(&message);
    (returned != Returned::default()).then_some(returned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_to_gathers_the_report_s_own_addresses_in_order() {
        let raw = b"From: MAILER-DAEMON@mx.example.com\r\n\
            To: <Bounces+12-0123456789ABCDEF@news.example.org>\r\n\
            Delivered-To: bounces+12-0123456789abcdef@news.example.org\r\n\
            X-Original-To: bounces@news.example.org\r\n\
            Envelope-To: Other <other@example.net>\r\n\
            X-Envelope-To: <last@example.net>\r\n\
            Subject: hi\r\n\r\nbody\r\n";
        let mail = read(raw).unwrap();
        assert_eq!(
            mail.delivered_to,
            [
                "bounces+12-0123456789abcdef@news.example.org",
                "bounces@news.example.org",
                "other@example.net",
                "last@example.net"
            ]
        );
        assert_eq!(mail.from, ["mailer-daemon@mx.example.com"]);
        assert_eq!(mail.text.trim(), "body");
    }

    #[test]
    fn message_ids_keep_their_brackets() {
        assert_eq!(bracketed("abc@x"), Some("<abc@x>".into()));
        assert_eq!(bracketed(" <abc@x> "), Some("<abc@x>".into()));
        assert_eq!(bracketed("<>"), None);
        assert_eq!(bracketed("a b"), None);
    }

    #[test]
    fn returned_headers_are_read_from_plain_text() {
        let r = returned_in(
            b"\n\nReturn-Path: <bounces+1-aa@news.example.org>\nTo: Ann <Ann@example.com>\nMessage-ID: <m1@news.example.org>\n\nbody",
        )
        .unwrap();
        assert_eq!(r.message_id.as_deref(), Some("<m1@news.example.org>"));
        assert_eq!(r.to, ["ann@example.com"]);
        assert_eq!(
            r.return_path.as_deref(),
            Some("bounces+1-aa@news.example.org")
        );
        assert_eq!(returned_in(b"just words"), None);
    }
}
