//! The final message for one outbox row: headers (Date and Message-ID from the row, so
//! every retry sends the same message), the RFC 2369/2919/8058 list headers, a
//! text-then-HTML multipart body, and a DKIM signature when a key is configured.
//! It turns model types into a lettre message and nothing more: it must not use the
//! store or delivery. `app` adapts it to delivery's `Compose` and keeps the encoded
//! bodies of recent contents.

use std::time::SystemTime;

use lettre::Address;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use super::encoded::EncodedBody;
use super::fill;
use crate::config;
use crate::model::{ComposeError, Content, OutboxRow, sanitize_name};
use crate::tokens::{Signer, Verp};

/// A DKIM key and where it is published.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    pub selector: String,
    pub domain: String,
    /// PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`).
    pub private_key_pem: String,
}

pub struct Composer {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    test_recipient: Option<Address>,
    dkim: Option<DkimConfig>,
    verp: Option<VerpSettings>,
}

/// Per-message addresses made from `[bounces]`: each message's envelope sender
/// (`bounces+{token}@…`) and its `List-Unsubscribe` mailto (`unsubscribe+{token}@…`),
/// the token signed and naming the outbox row, so that what comes back to either
/// names exactly one message.
#[derive(Clone)]
pub struct VerpSettings {
    pub signer: Signer,
    pub bounce: Option<config::Verp>,
    pub unsubscribe: Option<config::Verp>,
}

/// A content's text and HTML parts, encoded once for all its recipients.
pub struct Encoded {
    text: EncodedBody,
    html: EncodedBody,
}

/// The configured DKIM key cannot sign.
#[derive(Debug, thiserror::Error)]
#[error("the DKIM key is not a PKCS#1 RSA key ({0}); convert it with `openssl rsa -traditional`")]
pub struct DkimKeyError(String);

impl std::fmt::Debug for Composer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer")
            .field("from", &self.from)
            .field("dkim", &self.dkim.is_some())
            .field("verp", &self.verp.is_some())
            .finish()
    }
}

/// The headers a signature covers: everything RFC 8058 needs signed, and no
/// Content-Type (lettre writes the multipart one after signing).
const SIGNED: [&str; 9] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
];

impl Composer {
    pub fn new(
        from: Mailbox,
        reply_to: Option<Mailbox>,
        test_recipient: Option<Address>,
        dkim: Option<DkimSettings>,
    ) -> Result<Composer, DkimKeyError> {
        let dkim = match dkim {
            Some(settings) => {
                let key = DkimSigningKey::new(&settings.private_key_pem, DkimSigningAlgorithm::Rsa)
                    .map_err(|e| DkimKeyError(format!("{e:?}")))?;
                Some(DkimConfig::new(
                    settings.selector,
                    settings.domain,
                    key,
                    SIGNED
                        .iter()
                        .map(|h| HeaderName::new_from_ascii_str(h))
                        .collect(),
                    DkimCanonicalization {
                        header: DkimCanonicalizationType::Relaxed,
                        body: DkimCanonicalizationType::Relaxed,
                    },
                ))
            }
            None => None,
        };
        Ok(Composer {
            from,
            reply_to,
            test_recipient,
            dkim,
            verp: None,
        })
    }

    /// Sends each message from its own VERP address and gives it a signed mailto.
    pub fn with_verp(mut self, verp: VerpSettings) -> Composer {
        self.verp = Some(verp);
        self
    }

    /// Encodes a content's parts for the wire. Contents never change, so the result
    /// serves every recipient of the same content.
    pub fn encode(&self, content: &Content) -> Encoded {
        Encoded {
            text: EncodedBody::new(&content.text, false),
            html: EncodedBody::new(&content.html, true),
        }
    }
}

/// `text/plain; charset=utf-8; format=flowed; delsp=yes`: the text parts are frozen
/// in that form (see [`super::flowed`]).
fn flowed_text() -> ContentType {
    // A constant that parses (a test below checks); plain text is the safe fallback.
    ContentType::parse(super::flowed::CONTENT_TYPE).unwrap_or(ContentType::TEXT_PLAIN)
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

impl Composer {
    /// The message for one row of `content`, whose parts [`Composer::encode`] made.
    pub fn compose(
        &self,
        row: &OutboxRow,
        content: &Content,
        body: &Encoded,
    ) -> Result<lettre::Message, ComposeError> {
        let vars: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&row.vars)
            .map_err(|e| ComposeError::Vars {
                row: row.id,
                reason: e.to_string(),
            })?;
        let var = |key: &str| {
            vars.get(key)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let subject = fill(&content.subject, &vars, false);
        let text = body.text.fill(&vars);
        let html = body.html.fill(&vars);

        let intended: Address =
            row.recipient
                .parse()
                .map_err(|e: lettre::address::AddressError| ComposeError::Recipient {
                    recipient: row.recipient.clone(),
                    reason: e.to_string(),
                })?;
        // Names are checked where they come in; one queued before that still gets a
        // header that cannot break.
        let to = Mailbox::new(
            var("name").and_then(sanitize_name),
            self.test_recipient.clone().unwrap_or(intended.clone()),
        );
        let date = SystemTime::from(row.created_at);
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date(date)
            .message_id(Some(row.message_id.clone()))
            .raw_header(raw("Auto-Submitted", "auto-generated".into()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(list_id) = var("list_id") {
            builder = builder.raw_header(raw("List-Id", list_id.to_string()));
        }
        let verp = |base: Option<&config::Verp>, which| {
            let settings = self.verp.as_ref()?;
            Some(base?.address(&settings.signer.verp(row.id, which)))
        };
        let signed_mailto = verp(
            self.verp.as_ref().and_then(|v| v.unsubscribe.as_ref()),
            Verp::Unsubscribe,
        )
        .map(|address| format!("mailto:{address}?subject=unsubscribe"));
        if let Some(unsubscribe) = var("unsubscribe_url") {
            let mut value = format!("<{unsubscribe}>");
            if let Some(mailto) = signed_mailto.as_deref().or(var("unsubscribe_mailto")) {
                value.push_str(&format!(", <{mailto}>"));
            }
            builder = builder
                .raw_header(raw("List-Unsubscribe", value))
                .raw_header(raw(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        if self.test_recipient.is_some() {
            builder = builder.raw_header(raw("X-Crier-Intended-Recipient", intended.to_string()));
        }
        if let Some(sender) = verp(
            self.verp.as_ref().and_then(|v| v.bounce.as_ref()),
            Verp::Bounce,
        ) {
            let sender: Address =
                sender
                    .parse()
                    .map_err(|e: lettre::address::AddressError| ComposeError::Build {
                        row: row.id,
                        reason: format!("the bounce address: {e}"),
                    })?;
            let to = self.test_recipient.clone().unwrap_or(intended.clone());
            let envelope = lettre::address::Envelope::new(Some(sender), vec![to]).map_err(|e| {
                ComposeError::Build {
                    row: row.id,
                    reason: e.to_string(),
                }
            })?;
            builder = builder.envelope(envelope);
        }
        // A boundary derived from the Message-ID keeps every attempt byte-identical.
        let boundary = format!(
            "crier-{}",
            row.message_id
                .trim_matches(['<', '>'])
                .replace(['@', '.'], "-")
        );
        let part = |content_type, bytes| {
            SinglePart::builder()
                .header(content_type)
                .body(Body::dangerous_pre_encoded(
                    bytes,
                    ContentTransferEncoding::QuotedPrintable,
                ))
        };
        let body = MultiPart::alternative()
            .boundary(boundary)
            .singlepart(part(flowed_text(), text))
            .singlepart(part(ContentType::TEXT_HTML, html));
        let mut message = builder.multipart(body).map_err(|e| ComposeError::Build {
            row: row.id,
            reason: e.to_string(),
        })?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_part_is_declared_flowed() {
        let header = super::flowed_text();
        let value = format!("{header:?}");
        assert!(value.contains("format=flowed"), "{value}");
        assert!(value.contains("delsp=yes"), "{value}");
    }
}
