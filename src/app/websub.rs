//! WebSub publishing: after a feed changes and is being served, tell the hub with
//! `hub.mode=publish&hub.url=…`, one request per feed.

use url::Url;

pub(super) struct Notifier {
    hub: Url,
    client: reqwest::Client,
}

impl Notifier {
    pub(super) fn new(hub: Url) -> Notifier {
        super::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("crier/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Notifier { hub, client }
    }

    /// Sends the pings in the background; failures are logged, never fatal.
    pub(super) fn publish(&self, topics: Vec<Url>) {
        for topic in topics {
            let client = self.client.clone();
            let hub = self.hub.clone();
            tokio::spawn(async move {
                let form = [("hub.mode", "publish"), ("hub.url", topic.as_str())];
                match client.post(hub.clone()).form(&form).send().await {
                    Ok(response) if response.status().is_success() => {
                        tracing::debug!(%topic, "WebSub hub notified");
                    }
                    Ok(response) => {
                        tracing::warn!(%topic, status = %response.status(), "the WebSub hub refused the ping");
                    }
                    Err(e) => tracing::warn!(%topic, "cannot reach the WebSub hub {hub}: {e}"),
                }
            });
        }
    }
}
