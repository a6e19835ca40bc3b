//! Danger levels (guide §2.1) and the pinned operations catalogue (DESIGN §1). Pure data and
//! pure decisions: no I/O.

use std::fmt;

use serde::Serialize;

/// A danger level. Ordered: `G1 < G2 < G3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    G1,
    G2,
    G3,
}

impl Level {
    /// Parses `G1`/`G2`/`G3` (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_uppercase().as_str() {
            "G1" => Some(Level::G1),
            "G2" => Some(Level::G2),
            "G3" => Some(Level::G3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::G1 => "G1",
            Level::G2 => "G2",
            Level::G3 => "G3",
        }
    }

    /// The orgs whose approvers must each approve once (G1 needs no change request).
    pub fn required_orgs(self) -> &'static [&'static str] {
        match self {
            Level::G1 => &[],
            Level::G2 => &["product"],
            Level::G3 => &["product", "customer"],
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pinned operations catalogue: id and default level.
pub const OPERATIONS: &[(&str, Level)] = &[
    ("lhc.mutex.release", Level::G2),
    ("lhc.plan.cancel", Level::G2),
    ("aks.registry_address.set", Level::G2),
    ("fed.finalizer.remove", Level::G2),
    ("fed.skip_validation.annotate", Level::G2),
    ("fed.restart", Level::G2),
    ("component.restart", Level::G2),
    ("fed.unmanage", Level::G3),
    ("fed.orphan_delete", Level::G3),
    ("fed.workspace.cleanup", Level::G3),
    ("hub.migration", Level::G3),
];

/// The default level of a catalogued operation, `None` for an unknown id.
pub fn default_level(operation: &str) -> Option<Level> {
    OPERATIONS
        .iter()
        .find(|(id, _)| *id == operation)
        .map(|(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g3_needs_product_and_customer_approval() {
        assert_eq!(Level::G3.required_orgs(), &["product", "customer"]);
        assert_eq!(Level::G2.required_orgs(), &["product"]);
        assert!(Level::G1.required_orgs().is_empty());
    }

    #[test]
    fn catalogue_levels_match_the_design() {
        assert_eq!(default_level("lhc.mutex.release"), Some(Level::G2));
        assert_eq!(default_level("fed.unmanage"), Some(Level::G3));
        assert_eq!(default_level("hub.migration"), Some(Level::G3));
        assert_eq!(default_level("rm -rf"), None);
        assert!(Level::G1 < Level::G2 && Level::G2 < Level::G3);
        assert_eq!(Level::parse(" g2 "), Some(Level::G2));
        assert_eq!(Level::parse("G4"), None);
    }
}
