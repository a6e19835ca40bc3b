//! `AppState`: what every handler can reach. Cheap to clone (one `Arc`).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::service::SessionPolicy;
use crate::changes::operation::Registry;
use crate::config::{Config, ConfigSource};
use crate::health::inventory;
use crate::health::monitor::Monitor;
use crate::store::Store;
use crate::targets::Targets;
use crate::web::metrics::Metrics;

/// The application: configuration, the own store, and process-wide counters.
#[derive(Debug)]
pub struct App {
    /// The effective configuration (defaults → file → environment), validated.
    pub config: Config,
    /// Where the configuration came from (shown on the dashboard and in `config.loaded`).
    pub config_source: ConfigSource,
    /// The console's own database.
    pub store: Store,
    /// Request counters and latency histograms for `/metrics`.
    pub metrics: Metrics,
    /// When the process started serving, for uptime in `/metrics`.
    pub started: Instant,
    /// The operations of the catalogue that are built, by id.
    pub operations: Registry,
    /// Connections to the external databases the operations change.
    pub targets: Targets,
    /// Live component health (probed by the scheduler that `serve` starts).
    pub health: Arc<Monitor>,
    /// Why the demo's sandbox target databases are unavailable, when they are (shown on the
    /// pages that need them).
    pub sandbox_note: Option<String>,
}

/// Shared handle to [`App`].
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Builds the state; target pools connect lazily, so a target that is down does not stop
    /// the console from starting.
    pub fn new(
        config: Config,
        config_source: ConfigSource,
        store: Store,
    ) -> anyhow::Result<AppState> {
        let targets = Targets::from_config(&config.targets)?;
        let health = Arc::new(Monitor::new(
            inventory::from_config(&config.components),
            config.probes.clone(),
        ));
        Ok(AppState(Arc::new(App {
            config,
            config_source,
            store,
            metrics: Metrics::default(),
            started: Instant::now(),
            operations: Registry::standard(),
            targets,
            health,
            sandbox_note: None,
        })))
    }

    /// Records why the sandbox databases are unavailable (demo only; before the state is shared).
    pub fn with_sandbox_note(mut self, note: String) -> AppState {
        if let Some(app) = Arc::get_mut(&mut self.0) {
            app.sandbox_note = Some(note);
        }
        self
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy::from_config(&self.config.server)
    }

    /// Whether cookies are marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.config.server.cookies_secure()
    }
}
