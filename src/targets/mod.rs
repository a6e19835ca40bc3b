//! External databases the console repairs. All SQL against them lives here.

pub mod lhcconsole;
pub mod rows;

use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

use crate::changes::operation::OpError;
use crate::config::{TargetDb, TargetsConfig};

/// The configured targets; `None` where the configuration leaves a target empty.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub lhcconsole: Option<TargetPools>,
}

/// A target database: a pool for changes and one (possibly a read-only account) for previews.
#[derive(Clone, Debug)]
pub struct TargetPools {
    pub write: MySqlPool,
    pub read: MySqlPool,
}

fn lazy_pool(url: &str) -> anyhow::Result<MySqlPool> {
    Ok(MySqlPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url)?)
}

impl TargetPools {
    /// Pools that connect on first use, so the console starts while a target is down.
    pub fn lazy(cfg: &TargetDb) -> anyhow::Result<Option<TargetPools>> {
        if cfg.url.is_empty() {
            return Ok(None);
        }
        let write = lazy_pool(cfg.url.expose())?;
        let read = if cfg.read_url.is_empty() {
            write.clone()
        } else {
            lazy_pool(cfg.read_url.expose())?
        };
        Ok(Some(TargetPools { write, read }))
    }
}

impl Targets {
    pub fn from_config(c: &TargetsConfig) -> anyhow::Result<Targets> {
        Ok(Targets {
            lhcconsole: TargetPools::lazy(&c.lhcconsole)?,
        })
    }

    /// The lhcconsole database, or the error saying it is not configured.
    pub fn lhcconsole(&self) -> Result<&TargetPools, OpError> {
        self.lhcconsole
            .as_ref()
            .ok_or(OpError::NotConfigured("lhcconsole"))
    }
}

/// Whether a database error may have left the statement applied: the connection was lost.
pub fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        // ER_CONNECTION_KILLED, ER_QUERY_INTERRUPTED, CR_SERVER_LOST, CR_SERVER_GONE_ERROR
        sqlx::Error::Database(d) => matches!(
            d.code().as_deref(),
            Some("1927" | "1317" | "2013" | "2006" | "70100")
        ),
        _ => false,
    }
}
