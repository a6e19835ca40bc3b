//! The change-request engine. So far: the policy table (operation ids → danger levels → the
//! approvals they need). Submission, approval and execution build on it.

pub mod policy;
