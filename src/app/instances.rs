//! This process among the `crier serve` instances that may share one database: its
//! identity (random at each start, with the host name and pid for people), and the
//! heartbeat loop that keeps its row in `instances` fresh, reads who else is alive,
//! publishes them for the health report and gives the delivery worker its share of
//! the deployment's send rate. On a clean stop the loop removes its row; a process
//! that dies leaves it to go stale after [`LIVE_WITHIN`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::delivery::Pacer;
use crate::health::Cluster;
use crate::model::Instance;
use crate::store::Store;

/// How often an instance beats.
pub(super) const BEAT_EVERY: Duration = Duration::from_secs(5);
/// An instance whose last beat is older than this counts as dead: three beats missed.
pub(super) const LIVE_WITHIN: chrono::Duration = chrono::Duration::seconds(15);
/// Hit counts are kept this long after their window started (the longest window a
/// limit uses is 15 minutes), leases this long after they ran out, and a dead
/// instance's row this long after its last beat, for people to see in the report.
const KEEP_HITS: chrono::Duration = chrono::Duration::hours(1);
const KEEP_LEASES: chrono::Duration = chrono::Duration::days(1);
const KEEP_DEAD: chrono::Duration = chrono::Duration::hours(1);
/// Beats between two prunings: about every five minutes.
const PRUNE_EVERY: u32 = 60;

/// This process, as its heartbeat row will say.
pub(super) fn identity(clock: &dyn Clock) -> anyhow::Result<Instance> {
    let now = clock.now();
    let id = crate::tokens::passwords::random_token()
        .map_err(|e| anyhow::anyhow!("cannot make an instance id: {e}"))?;
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    Ok(Instance {
        // 16 characters are plenty to tell restarts apart and short enough to read.
        id: id.chars().take(16).collect(),
        host,
        pid: i64::from(std::process::id()),
        started_at: now,
        beat_at: now,
    })
}

/// Beats once, so that the worker starts at its share of the rate, then every
/// [`BEAT_EVERY`] in a task until `stop`, which then removes this instance's row.
pub(super) async fn start(
    store: Store,
    me: Instance,
    clock: Arc<dyn Clock>,
    cluster: Arc<Cluster>,
    pacer: Pacer,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut beating = Beating {
        store,
        me,
        clock,
        cluster,
        pacer,
        beats: 0,
        sharing: 1,
    };
    beating.once().await;
    tokio::spawn(beating.run(stop))
}

struct Beating {
    store: Store,
    me: Instance,
    clock: Arc<dyn Clock>,
    cluster: Arc<Cluster>,
    pacer: Pacer,
    beats: u32,
    /// The live instances at the last beat that read them (this one counted).
    sharing: usize,
}

impl Beating {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(BEAT_EVERY) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
            self.once().await;
        }
        if let Err(e) = self.store.remove_instance(&self.me.id).await {
            tracing::warn!("cannot remove this instance's heartbeat row (it goes stale): {e}");
        }
    }

    async fn once(&mut self) {
        let (store, me, pacer) = (&self.store, &mut self.me, &self.pacer);
        let now = self.clock.now();
        me.beat_at = now;
        match beat(store, me, now).await {
            Ok(live) => {
                if live.len().max(1) != self.sharing || self.beats == 0 {
                    self.sharing = live.len().max(1);
                    let rate = pacer.set_instances(self.sharing);
                    tracing::info!(
                        instance = %me.id,
                        instances = self.sharing,
                        rate_per_second = rate,
                        "live instances counted; this one sends at its share of the rate"
                    );
                }
                self.cluster.seen(live);
            }
            Err(e) => tracing::error!("cannot record this instance's heartbeat: {e}"),
        }
        if self.beats.is_multiple_of(PRUNE_EVERY) {
            let pruned = store
                .prune_coordination(now - KEEP_HITS, now - KEEP_LEASES, now - KEEP_DEAD)
                .await;
            if let Err(e) = pruned {
                tracing::warn!("cannot prune old hit counts, leases and instances: {e}");
            }
        }
        self.beats = self.beats.wrapping_add(1);
    }
}

/// One beat: this instance's row, then every live instance's.
async fn beat(
    store: &Store,
    me: &Instance,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Instance>, crate::store::StoreError> {
    store.beat(me).await?;
    store.live_instances(now - LIVE_WITHIN).await
}
