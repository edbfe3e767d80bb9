//! Changes to every subscriber a query selects (the console's bulk actions; the CLI
//! and the API can call the same): which rows each action may touch is decided here,
//! the store counts and writes them in one transaction.

use super::{SubscriptionError, Subscriptions, write_csv};
use crate::model::Status;
use crate::store::{BulkChange, SubscriberQuery};

/// An action on the current selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    /// Adds an audience of the taxonomy to those who lack it.
    AddAudience(String),
    /// Takes an audience from those who have it, except from anyone for whom it is
    /// the only one: every subscriber keeps at least one audience, as a sign-up or an
    /// edit requires.
    RemoveAudience(String),
    /// Unsubscribes the pending and active ones. Those who bounced or complained keep
    /// their status: setting them to "unsubscribed" would let a sign-up bring them back.
    Unsubscribe,
}

impl Subscriptions {
    fn bulk_change(&self, action: &BulkAction) -> Result<BulkChange, SubscriptionError> {
        Ok(match action {
            BulkAction::AddAudience(audience) => {
                if !self.taxonomy().is_choice(audience) {
                    return Err(SubscriptionError::Invalid(vec![format!(
                        "`{audience}` is not an audience"
                    )]));
                }
                BulkChange::AddAudience(audience.clone())
            }
            BulkAction::RemoveAudience(audience) => BulkChange::RemoveAudience {
                audience: audience.clone(),
                keep_one: true,
            },
            BulkAction::Unsubscribe => BulkChange::Unsubscribe {
                among: vec![Status::Pending, Status::Active],
            },
        })
    }

    /// How many subscribers `action` would change among those `query` selects (its
    /// sort and page are ignored): the number an admin confirms.
    pub async fn bulk_count(
        &self,
        query: &SubscriberQuery,
        action: &BulkAction,
    ) -> Result<u64, SubscriptionError> {
        let change = self.bulk_change(action)?;
        Ok(self.store().bulk_targets(query, &change).await?)
    }

    /// Applies `action` to every subscriber `query` selects, in one transaction.
    /// Returns how many changed.
    pub async fn bulk_apply(
        &self,
        query: &SubscriberQuery,
        action: &BulkAction,
        channel: &str,
    ) -> Result<u64, SubscriptionError> {
        let change = self.bulk_change(action)?;
        let signer = self.signer().clone();
        let hash = move |email: &str| signer.email_hash(email);
        let changed = self
            .store()
            .apply_bulk(query, &change, &hash, channel, self.now())
            .await?;
        if *action == BulkAction::Unsubscribe {
            metrics::counter!("crier_unsubscribes_total").increment(changed);
        }
        Ok(changed)
    }

    /// How many subscribers `query` selects, whatever its page.
    pub async fn count(&self, query: &SubscriberQuery) -> Result<u64, SubscriptionError> {
        let first = SubscriberQuery {
            page: 1,
            per_page: 1,
            ..query.clone()
        };
        Ok(self.store().subscribers(&first).await?.total)
    }

    /// Every subscriber `query` selects, as the CSV export ([`write_csv`]), in the
    /// query's order.
    pub async fn export_csv(&self, query: &SubscriberQuery) -> Result<Vec<u8>, SubscriptionError> {
        let subscribers = self.store().matching_subscribers(query).await?;
        let mut out = Vec::new();
        write_csv(&mut out, &subscribers).map_err(|e| {
            SubscriptionError::Invalid(vec![format!("the export could not be written: {e}")])
        })?;
        Ok(out)
    }
}
