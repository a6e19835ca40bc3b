//! The console's own database: SQLite by default, MySQL / MariaDB / OceanBase when `store.url`
//! is `mysql://…`. One `sqlx::AnyPool`, one set of statements (`?` binds, no `RETURNING`,
//! times as UTC milliseconds) and one migration folder per backend.
//!
//! Write transactions start with [`Store::begin`], which takes SQLite's write lock up front
//! (`BEGIN IMMEDIATE`) so that concurrent writers wait instead of failing on lock upgrade.

pub mod changes;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Transaction};

/// A store transaction.
pub type Tx = Transaction<'static, sqlx::Any>;

/// Which database engine backs the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// Handle to the console's own database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Errors opening or migrating the store, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.url {url}: {message}")]
    Open { url: String, message: String },
    #[error("store migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

impl Store {
    /// Connects (creating the SQLite file and its folder on first run, in WAL mode).
    /// Does not migrate: call [`Store::migrate`].
    pub async fn open(url: &crate::config::Dsn) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose();
        let open_err = |message: String| StoreError::Open {
            url: url.masked(),
            message,
        };
        let backend = if raw.starts_with("mysql://") {
            Backend::MySql
        } else {
            Backend::Sqlite
        };
        let connect_url = match backend {
            Backend::Sqlite => sqlite_url(raw).map_err(open_err)?,
            Backend::MySql => raw.to_string(),
        };
        let options =
            AnyConnectOptions::from_str(&connect_url).map_err(|e| open_err(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        sqlx::query("SET time_zone = '+00:00'")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| open_err(e.to_string()))?;
        }
        Ok(Store { pool, backend })
    }

    /// Opens and applies every pending migration.
    pub async fn open_migrated(url: &crate::config::Dsn) -> Result<Store, StoreError> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the pending migrations of this backend; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::MySql => &MYSQL_MIGRATIONS,
        };
        let before = self.applied_migrations().await;
        migrator.run(&self.pool).await?;
        Ok(self.applied_migrations().await.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> usize {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
            .map(|n| n as usize)
            .unwrap_or(0)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`).
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::MySql => self.pool.begin().await,
        }
    }

    /// Whether the store answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// Turns `sqlite://path` into a URL that creates the file, creating its folder too.
fn sqlite_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .ok_or_else(|| "must start with sqlite://".to_string())?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(
            "an in-memory SQLite store would lose everything on restart; give a file path".into(),
        );
    }
    if let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create folder {}: {e}", dir.display()))?;
    }
    let mut url = format!("sqlite://{path}?mode=rwc");
    if !query.is_empty() {
        url.push('&');
        url.push_str(query);
    }
    Ok(url)
}

/// Now, as UTC milliseconds since the epoch (the store's time unit).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats store milliseconds as RFC 3339 UTC with milliseconds, e.g. `2026-12-04T15:05:09.123Z`.
pub fn format_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// Parses RFC 3339 (any offset) into store milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_and_keep_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/store.db");
        let url = sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"), "{url}");
        assert!(path.parent().unwrap().is_dir());
        assert!(sqlite_url("sqlite://:memory:").is_err());
        assert!(
            sqlite_url("sqlite://x.db?cache=shared")
                .unwrap()
                .ends_with("mode=rwc&cache=shared")
        );
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        let ms = 1_796_396_709_123;
        assert_eq!(parse_rfc3339_ms(&format_ms(ms)), Some(ms));
        assert_eq!(
            parse_rfc3339_ms("2026-12-04T23:05:09+08:00"),
            parse_rfc3339_ms("2026-12-04T15:05:09Z")
        );
    }
}
