//! A few values kept by id, for work that comes in runs: the outbox queues the
//! recipients of one body next to each other, so the delivery worker (bodies read from
//! the store) and the composer (bodies encoded for the wire) each need only the last
//! few. Once full, the map starts over instead of tracking use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct Recent<V> {
    limit: usize,
    entries: Mutex<HashMap<i64, Arc<V>>>,
}

impl<V> Recent<V> {
    /// Keeps at most `limit` values.
    pub fn new(limit: usize) -> Recent<V> {
        Recent {
            limit: limit.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, id: i64) -> Option<Arc<V>> {
        self.entries().get(&id).cloned()
    }

    /// Keeps `value` under `id`, first forgetting everything when full.
    pub fn insert(&self, id: i64, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let mut entries = self.entries();
        if entries.len() >= self.limit {
            entries.clear();
        }
        entries.insert(id, Arc::clone(&value));
        value
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_until_full_then_starts_over() {
        let recent = Recent::new(2);
        assert_eq!(*recent.insert(1, "one"), "one");
        recent.insert(2, "two");
        assert_eq!(recent.get(1).as_deref(), Some(&"one"));
        assert_eq!(recent.get(2).as_deref(), Some(&"two"));
        recent.insert(3, "three");
        assert_eq!(recent.get(1), None);
        assert_eq!(recent.get(2), None);
        assert_eq!(recent.get(3).as_deref(), Some(&"three"));
    }
}
