//! The web layer: the one route table, the request-context layer (identity, CSRF, language,
//! error rendering), page scaffolding, i18n, static assets, operational endpoints.

pub mod assets;
pub mod context;
pub mod extract;
pub mod i18n;
pub mod metrics;
pub mod ops;
pub mod page;
pub mod pages;
pub mod router;
