//! Component health: the inventory of CAFE components and their ports, probes, flap damping and
//! status aggregation.

pub mod inventory;
pub mod monitor;
pub mod probe;
pub mod routes;
pub mod status;
