//! `lhc.mutex.release` (G2, guide §6.4.1 step 1): when 开始发布 reports a conflicting 发布单 that
//! cannot be cancelled, delete the application service's rows of `lks_res_deploy_mutex`.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::mysql::MySqlConnection;

use super::{LhcConsoleOperation, SqlChange, param};
use crate::targets::lhcconsole::{self, Rows};
use crate::targets::rows;

pub struct MutexRelease;

#[async_trait]
impl SqlChange for MutexRelease {
    async fn read(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<Rows>> {
        Ok(vec![
            lhcconsole::read_mutex(conn, &param(params, Self::PARAM), lock).await?,
        ])
    }

    async fn apply(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        snapshot: &[Rows],
    ) -> sqlx::Result<u64> {
        lhcconsole::delete_mutex(conn, &param(params, Self::PARAM), &snapshot[0]).await
    }

    fn undo(&self, snapshot: &[Rows]) -> String {
        let t = &snapshot[0];
        let mut sql = format!(
            "-- Undo of lhc.mutex.release: re-inserts the {} deleted row(s) of {} exactly.\nSTART TRANSACTION;\n",
            t.cells.len(),
            t.table
        );
        for cells in &t.cells {
            sql.push_str(&rows::insert_statement(t.table, &t.columns, cells));
            sql.push('\n');
        }
        sql.push_str("COMMIT;\n");
        sql
    }
}

impl LhcConsoleOperation for MutexRelease {
    const ID: &'static str = "lhc.mutex.release";
    const PARAM: &'static str = "service";

    fn nothing_to_change(value: &str) -> String {
        format!(
            "no rows in lks_res_deploy_mutex for application service `{value}` (ref_res_type MULTI_CONTAINER_SERVICE)"
        )
    }
}
