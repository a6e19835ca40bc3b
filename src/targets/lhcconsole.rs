//! SQL against LHC's lhcconsole database (guide §6.4.1): the release mutex
//! `lks_res_deploy_mutex` and the release plan tables `ldc_plan` / `ldc_service`. Only the
//! columns the guide names are assumed; every other column is read dynamically.

use serde_json::Value;
use sqlx::mysql::{MySqlArguments, MySqlConnection};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, MySql};

use super::rows::{self, Cell, Column};

pub const MUTEX_TABLE: &str = "lks_res_deploy_mutex";
/// `ref_res_type` of application services (应用服务).
pub const SERVICE_RES_TYPE: &str = "MULTI_CONTAINER_SERVICE";
pub const PLAN_TABLE: &str = "ldc_plan";
pub const SERVICE_TABLE: &str = "ldc_service";
pub const CANCELED: &str = "CANCELED";

/// Rows of one table, every column, in a stable order.
#[derive(Clone, Debug)]
pub struct Rows {
    pub table: &'static str,
    pub columns: Vec<Column>,
    pub cells: Vec<Vec<Cell>>,
}

impl Rows {
    pub fn json(&self) -> Vec<Value> {
        self.cells
            .iter()
            .map(|c| rows::row_json(&self.columns, c))
            .collect()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }

    /// The cell of `column` in every row.
    pub fn values(&self, column: &str) -> Vec<Cell> {
        match self.index(column) {
            Some(i) => self.cells.iter().map(|r| r[i].clone()).collect(),
            None => Vec::new(),
        }
    }

    /// Keeps the rows whose `column` equals `value` byte for byte (the database's collation may
    /// be case- or trailing-space-insensitive; the repair is not).
    fn retain_exact(&mut self, column: &str, value: &str) {
        if let Some(i) = self.index(column) {
            self.cells
                .retain(|r| matches!(&r[i], Cell::Text(t) if t == value));
        }
    }

    fn primary_key(&self) -> Vec<&Column> {
        self.columns.iter().filter(|c| c.primary_key).collect()
    }

    /// `ORDER BY` the primary key, else every column, so reads are deterministic.
    fn order_by(columns: &[Column]) -> String {
        let pk: Vec<String> = columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| rows::ident(&c.name))
            .collect();
        if pk.is_empty() {
            columns
                .iter()
                .map(|c| rows::ident(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            pk.join(", ")
        }
    }
}

fn bind_cell<'q>(
    q: Query<'q, MySql, MySqlArguments>,
    cell: &Cell,
) -> Query<'q, MySql, MySqlArguments> {
    match cell {
        Cell::Null => q.bind(None::<String>),
        Cell::Int(i) => q.bind(*i),
        Cell::UInt(u) => q.bind(*u),
        Cell::Text(t) | Cell::Bytes(t) => q.bind(t.clone()),
    }
}

fn lock_clause(for_update: bool) -> &'static str {
    if for_update { " FOR UPDATE" } else { "" }
}

async fn require_columns(
    conn: &mut MySqlConnection,
    table: &str,
    needed: &[&str],
) -> sqlx::Result<Vec<Column>> {
    let columns = rows::columns(&mut *conn, table).await?;
    for n in needed {
        if !columns.iter().any(|c| c.name == *n) {
            return Err(sqlx::Error::ColumnNotFound(format!("{table}.{n}")));
        }
    }
    Ok(columns)
}

/// The mutex rows of one application service (guide: `SELECT * FROM lks_res_deploy_mutex WHERE
/// ref_res_type='MULTI_CONTAINER_SERVICE' AND ref_resource=?`), optionally locked.
pub async fn read_mutex(
    conn: &mut MySqlConnection,
    service: &str,
    for_update: bool,
) -> sqlx::Result<Rows> {
    let columns = require_columns(conn, MUTEX_TABLE, &["ref_res_type", "ref_resource"]).await?;
    let sql = format!(
        "SELECT {} FROM {} WHERE `ref_res_type` = ? AND `ref_resource` = ? ORDER BY {}{}",
        rows::select_list(&columns),
        rows::ident(MUTEX_TABLE),
        Rows::order_by(&columns),
        lock_clause(for_update)
    );
    let fetched = sqlx::query(AssertSqlSafe(sql))
        .bind(SERVICE_RES_TYPE)
        .bind(service)
        .fetch_all(&mut *conn)
        .await?;
    let cells = fetched
        .iter()
        .map(|r| rows::decode_row(r, &columns))
        .collect::<sqlx::Result<_>>()?;
    let mut rows = Rows {
        table: MUTEX_TABLE,
        columns,
        cells,
    };
    rows.retain_exact("ref_resource", service);
    Ok(rows)
}

/// Deletes exactly the given mutex rows (by primary key when the table has one).
pub async fn delete_mutex(
    conn: &mut MySqlConnection,
    service: &str,
    rows: &Rows,
) -> sqlx::Result<u64> {
    let pk = rows.primary_key();
    let mut sql = format!(
        "DELETE FROM {} WHERE `ref_res_type` = ? AND `ref_resource` = ?",
        rows::ident(MUTEX_TABLE)
    );
    if let [key] = pk.as_slice() {
        let marks = vec!["?"; rows.cells.len()].join(", ");
        sql.push_str(&format!(" AND {} IN ({marks})", rows::ident(&key.name)));
    }
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(SERVICE_RES_TYPE)
        .bind(service.to_string());
    if let [key] = pk.as_slice() {
        for cell in rows.values(&key.name) {
            q = bind_cell(q, &cell);
        }
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// The rows a plan cancel changes: the `ldc_plan` rows of `time_series_id` and the
/// `ldc_service` rows of those plans, each only where `state` is not already `CANCELED`.
pub async fn read_plan(
    conn: &mut MySqlConnection,
    time_series_id: &str,
    for_update: bool,
) -> sqlx::Result<(Rows, Rows)> {
    let plan_cols = require_columns(conn, PLAN_TABLE, &["id", "time_series_id", "state"]).await?;
    let service_cols = require_columns(conn, SERVICE_TABLE, &["plan_id", "state"]).await?;
    let plan_ids: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT CAST(`id` AS SIGNED) FROM {} WHERE `time_series_id` = ? AND BINARY `time_series_id` = BINARY ? ORDER BY `id`{}",
        rows::ident(PLAN_TABLE),
        lock_clause(for_update)
    )))
    .bind(time_series_id)
    .bind(time_series_id)
    .fetch_all(&mut *conn)
    .await?;
    let plan_sql = format!(
        "SELECT {} FROM {} WHERE `time_series_id` = ? AND NOT (`state` <=> ?) ORDER BY {}{}",
        rows::select_list(&plan_cols),
        rows::ident(PLAN_TABLE),
        Rows::order_by(&plan_cols),
        lock_clause(for_update)
    );
    let fetched = sqlx::query(AssertSqlSafe(plan_sql))
        .bind(time_series_id)
        .bind(CANCELED)
        .fetch_all(&mut *conn)
        .await?;
    let mut plan = Rows {
        table: PLAN_TABLE,
        cells: fetched
            .iter()
            .map(|r| rows::decode_row(r, &plan_cols))
            .collect::<sqlx::Result<_>>()?,
        columns: plan_cols,
    };
    plan.retain_exact("time_series_id", time_series_id);

    let mut services = Rows {
        table: SERVICE_TABLE,
        columns: service_cols.clone(),
        cells: Vec::new(),
    };
    if !plan_ids.is_empty() {
        let marks = vec!["?"; plan_ids.len()].join(", ");
        let sql = format!(
            "SELECT {} FROM {} WHERE `plan_id` IN ({marks}) AND NOT (`state` <=> ?) ORDER BY {}{}",
            rows::select_list(&service_cols),
            rows::ident(SERVICE_TABLE),
            Rows::order_by(&service_cols),
            lock_clause(for_update)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id,) in &plan_ids {
            q = q.bind(*id);
        }
        let fetched = q.bind(CANCELED).fetch_all(&mut *conn).await?;
        services.cells = fetched
            .iter()
            .map(|r| rows::decode_row(r, &service_cols))
            .collect::<sqlx::Result<_>>()?;
    }
    Ok((plan, services))
}

/// The guide's two `UPDATE … SET state='CANCELED'` statements, for the previewed plans only.
/// Returns the rows changed in `ldc_plan` and in `ldc_service`.
pub async fn cancel_plan(
    conn: &mut MySqlConnection,
    time_series_id: &str,
    plan: &Rows,
    services: &Rows,
) -> sqlx::Result<(u64, u64)> {
    let mut plans_changed = 0;
    if !plan.cells.is_empty() {
        plans_changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET `state` = ? WHERE `time_series_id` = ? AND BINARY `time_series_id` = BINARY ? AND NOT (`state` <=> ?)",
            rows::ident(PLAN_TABLE)
        )))
        .bind(CANCELED)
        .bind(time_series_id)
        .bind(time_series_id)
        .bind(CANCELED)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    let mut plan_ids: Vec<Cell> = services.values("plan_id");
    plan_ids.dedup();
    let mut services_changed = 0;
    if !plan_ids.is_empty() {
        let marks = vec!["?"; plan_ids.len()].join(", ");
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET `state` = ? WHERE `plan_id` IN ({marks}) AND NOT (`state` <=> ?)",
            rows::ident(SERVICE_TABLE)
        )))
        .bind(CANCELED);
        for id in &plan_ids {
            q = bind_cell(q, id);
        }
        services_changed = q.bind(CANCELED).execute(&mut *conn).await?.rows_affected();
    }
    Ok((plans_changed, services_changed))
}
