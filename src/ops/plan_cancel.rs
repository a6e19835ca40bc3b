//! `lhc.plan.cancel` (G2, guide §6.4.1 step 2, optional): set `ldc_plan.state='CANCELED'` for
//! one `time_series_id` and `ldc_service.state='CANCELED'` for that plan's services, in one
//! transaction.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::mysql::MySqlConnection;

use super::{LhcConsoleOperation, SqlChange, param};
use crate::targets::lhcconsole::{self, Rows};
use crate::targets::rows;

pub struct PlanCancel;

#[async_trait]
impl SqlChange for PlanCancel {
    async fn read(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<Rows>> {
        let (plan, services) =
            lhcconsole::read_plan(conn, &param(params, Self::PARAM), lock).await?;
        Ok(vec![plan, services])
    }

    async fn apply(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        snapshot: &[Rows],
    ) -> sqlx::Result<u64> {
        let (p, s) = lhcconsole::cancel_plan(
            conn,
            &param(params, Self::PARAM),
            &snapshot[0],
            &snapshot[1],
        )
        .await?;
        Ok(p + s)
    }

    fn undo(&self, snapshot: &[Rows]) -> String {
        let mut sql = String::from(
            "-- Undo of lhc.plan.cancel: restores every column of the changed ldc_plan / ldc_service rows.\nSTART TRANSACTION;\n",
        );
        for t in snapshot {
            for cells in &t.cells {
                sql.push_str(&rows::update_statement(
                    t.table,
                    &t.columns,
                    cells,
                    &["state"],
                ));
                sql.push('\n');
            }
        }
        sql.push_str("COMMIT;\n");
        sql
    }
}

impl LhcConsoleOperation for PlanCancel {
    const ID: &'static str = "lhc.plan.cancel";
    const PARAM: &'static str = "time_series_id";

    fn nothing_to_change(value: &str) -> String {
        format!(
            "no ldc_plan / ldc_service rows to cancel for time_series_id `{value}` (missing, or already CANCELED)"
        )
    }
}
