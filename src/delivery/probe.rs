//! The mail transport as the readiness check's [`Probe`]: `http` may not use
//! delivery, so `app` hands it this instead of the [`Mailer`] itself. Only probes;
//! it never sends.

use std::sync::Arc;

use super::Mailer;
use crate::health::{Probe, ProbeError, ProbeFuture};

/// A [`Mailer`]'s own check, behind the narrow [`Probe`] interface.
pub struct TransportProbe(Arc<dyn Mailer>);

impl TransportProbe {
    pub fn new(mailer: Arc<dyn Mailer>) -> TransportProbe {
        TransportProbe(mailer)
    }
}

impl Probe for TransportProbe {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn check(&self) -> ProbeFuture<'_> {
        Box::pin(async move {
            self.0.check().await.map_err(|e| ProbeError::Refused {
                transport: self.0.name(),
                reason: e.to_string(),
            })
        })
    }
}
