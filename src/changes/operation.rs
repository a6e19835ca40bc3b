//! The operation trait: the spine of every change. Each operation id of the catalogue is one
//! type in `ops/` implementing it. An operation reads (preview), re-reads under lock and applies
//! (execute), and re-reads to decide an interrupted execution (reconcile); the engine owns
//! approvals, state, audit and recovery, so adding an operation never touches the engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::targets::Targets;

/// One table (or object kind) of a preview, for rendering in column order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewTable {
    pub name: String,
    /// Column names in the table's order.
    pub columns: Vec<String>,
    /// How many of `items` (in order) belong to this table.
    pub count: usize,
}

/// Exactly what a change would touch, frozen at submission: PINNED `{"digest","items","count"}`
/// plus the table layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// sha256 over the canonical JSON of `items`.
    pub digest: String,
    /// The rows (objects, every column) the change would modify or delete.
    pub items: Vec<Value>,
    /// How many rows the change modifies; execution checks the affected count against it.
    pub count: usize,
    pub tables: Vec<PreviewTable>,
}

/// What an execution did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub affected: u64,
    /// The rows as they were, every column.
    pub before_image: Value,
    /// SQL that restores them exactly.
    pub undo: String,
}

/// Where an execution stores its before-image and undo, durably, before the target commits.
#[async_trait]
pub trait Backup: Send + Sync {
    async fn save(&self, before_image: &Value, undo: &str) -> anyhow::Result<()>;
}

/// The result of re-reading the target after an interrupted execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconciliation {
    /// The change is in the target: the rows are gone / carry the new values.
    Applied,
    /// The target is exactly as approved: nothing was applied.
    NotApplied,
    /// Neither: someone else changed the rows. Says what was found.
    Unclear(String),
}

/// Why an operation could not preview or execute.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("target `{0}` is not configured")]
    NotConfigured(&'static str),
    #[error("{0}")]
    BadParams(String),
    #[error("nothing to change: {0}")]
    NothingToChange(String),
    /// The rows differ from the approved preview; nothing was changed.
    #[error("the rows changed since approval (digest now {})", .0.digest)]
    PreviewChanged(Box<Preview>),
    /// The affected count differed from the preview; the target transaction was rolled back.
    #[error("expected to change {expected} rows but the database reported {got}; rolled back")]
    CountMismatch { expected: usize, got: u64 },
    /// The before-image could not be stored; nothing was changed.
    #[error("could not store the before-image: {0:#}")]
    Backup(anyhow::Error),
    /// The target failed. `maybe_applied` is true once the change may have reached the target
    /// (the connection was lost while applying or committing).
    #[error("target database error: {error:#}")]
    Target {
        error: anyhow::Error,
        maybe_applied: bool,
    },
}

impl OpError {
    pub fn target(e: impl Into<anyhow::Error>, maybe_applied: bool) -> OpError {
        OpError::Target {
            error: e.into(),
            maybe_applied,
        }
    }
}

/// An operation of the catalogue.
#[async_trait]
pub trait Operation: Send + Sync {
    /// The PINNED id, e.g. `lhc.mutex.release`.
    fn id(&self) -> &'static str;
    /// Checks and normalises the params (e.g. trims nothing: names match literally).
    fn validate(&self, params: &Value) -> Result<Value, String>;
    /// A short subject for the audit log and lists, e.g. the service name.
    fn subject(&self, params: &Value) -> String;
    /// Read only: the exact rows the change would touch.
    async fn preview(&self, targets: &Targets, params: &Value) -> Result<Preview, OpError>;
    /// Re-reads under lock, refuses if the digest changed, saves the before-image through
    /// `backup`, applies, checks the affected count, commits.
    async fn execute(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
        backup: &dyn Backup,
    ) -> Result<Outcome, OpError>;
    /// Re-reads the target to decide an execution whose result is unknown.
    async fn reconcile(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
    ) -> Result<Reconciliation, OpError>;
}

/// The operations this console can run, by id.
#[derive(Clone, Default)]
pub struct Registry {
    ops: BTreeMap<&'static str, Arc<dyn Operation>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ops.keys()).finish()
    }
}

impl Registry {
    /// Every operation built so far.
    pub fn standard() -> Registry {
        let mut r = Registry::default();
        r.add(Arc::new(crate::ops::mutex_release::MutexRelease));
        r.add(Arc::new(crate::ops::plan_cancel::PlanCancel));
        r
    }

    pub fn add(&mut self, op: Arc<dyn Operation>) {
        self.ops.insert(op.id(), op);
    }

    pub fn get(&self, id: &str) -> Option<Arc<dyn Operation>> {
        self.ops.get(id).cloned()
    }

    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ops.keys().copied()
    }
}
