//! The change-request engine: the policy table (operation ids → danger levels → required
//! approvals), the state machine, the operation trait, the engine, and the JSON API.

pub mod engine;
pub mod model;
pub mod operation;
pub mod pages;
pub mod policy;
pub mod routes;
