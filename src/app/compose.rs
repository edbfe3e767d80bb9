//! The email composer as delivery's [`Compose`]: `email` builds the message and
//! `delivery` sends it, and neither may use the other, so the two meet here. It also
//! keeps the encoded bodies of the last few contents, since the outbox queues the
//! recipients of one body next to each other.

use crate::delivery::{Compose, Outgoing};
use crate::email::{Composer, Encoded};
use crate::model::{ComposeError, Content, OutboxRow};
use crate::recent::Recent;

/// Encoded bodies kept, by content id (contents never change).
const ENCODED_CACHE: usize = 64;

pub struct OutboxComposer {
    composer: Composer,
    encoded: Recent<Encoded>,
}

impl OutboxComposer {
    pub fn new(composer: Composer) -> OutboxComposer {
        OutboxComposer {
            composer,
            encoded: Recent::new(ENCODED_CACHE),
        }
    }
}

impl std::fmt::Debug for OutboxComposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.composer.fmt(f)
    }
}

impl Compose for OutboxComposer {
    fn compose(&self, row: &OutboxRow, content: &Content) -> Result<Outgoing, ComposeError> {
        let body = match self.encoded.get(content.id) {
            Some(found) => found,
            None => self
                .encoded
                .insert(content.id, self.composer.encode(content)),
        };
        let message = self.composer.compose(row, content, &body)?;
        Ok(Outgoing {
            envelope: message.envelope().clone(),
            raw: message.formatted(),
        })
    }
}
