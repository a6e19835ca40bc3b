//! lhc-ops — LHC 运维控制台: a web operations console for the on-site staff of SOFAStack CAFE /
//! 单元化应用服务 LHC. Data flows one way: HTTP → route handler → feature service → store.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod health;
pub mod ops;
pub mod state;
pub mod store;
pub mod targets;
pub mod telemetry;
pub mod web;

pub use state::AppState;

/// The whole HTTP application (tests build it from here).
pub fn app(state: AppState) -> axum::Router {
    web::router::router(state)
}
