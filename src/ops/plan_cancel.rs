//! `lhc.plan.cancel` (G2, guide §6.4.1 step 2, optional): set `ldc_plan.state='CANCELED'` for
//! one `time_series_id` and `ldc_service.state='CANCELED'` for that plan's services, in one
//! transaction.

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::mysql::MySqlConnection;

use super::SqlChange;
use crate::changes::operation::{Backup, OpError, Operation, Outcome, Preview, Reconciliation};
use crate::targets::lhcconsole::{self, Rows};
use crate::targets::{Targets, rows};

pub struct PlanCancel;

fn time_series_id(params: &Value) -> String {
    params["time_series_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[async_trait]
impl SqlChange for PlanCancel {
    async fn read(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<Rows>> {
        let (plan, services) = lhcconsole::read_plan(conn, &time_series_id(params), lock).await?;
        Ok(vec![plan, services])
    }

    async fn apply(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        snapshot: &[Rows],
    ) -> sqlx::Result<u64> {
        let (p, s) =
            lhcconsole::cancel_plan(conn, &time_series_id(params), &snapshot[0], &snapshot[1])
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

#[async_trait]
impl Operation for PlanCancel {
    fn id(&self) -> &'static str {
        "lhc.plan.cancel"
    }

    fn validate(&self, params: &Value) -> Result<Value, String> {
        Ok(
            json!({"time_series_id": super::string_param(params, "time_series_id", &["time_series_id"])?}),
        )
    }

    fn subject(&self, params: &Value) -> String {
        time_series_id(params)
    }

    async fn preview(&self, targets: &Targets, params: &Value) -> Result<Preview, OpError> {
        let p = super::preview_sql(self, targets.lhcconsole()?, params).await?;
        if p.count == 0 {
            return Err(OpError::NothingToChange(format!(
                "no ldc_plan / ldc_service rows to cancel for time_series_id `{}` (missing, or already CANCELED)",
                time_series_id(params)
            )));
        }
        Ok(p)
    }

    async fn execute(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
        backup: &dyn Backup,
    ) -> Result<Outcome, OpError> {
        super::execute_sql(self, targets.lhcconsole()?, params, approved, backup).await
    }

    async fn reconcile(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
    ) -> Result<Reconciliation, OpError> {
        super::reconcile_sql(self, targets.lhcconsole()?, params, approved).await
    }
}
