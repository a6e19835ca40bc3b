//! Identity: users with role, org and the emergency flag; password hashing; sessions and API
//! tokens; the extractors that enforce authorization on the server.

pub mod extract;
pub mod password;
pub mod routes;
pub mod service;

use std::fmt;

use serde::Serialize;

/// What a user may do (DESIGN §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// May run wizards, probes and G1 operations and request G2/G3 changes.
    pub fn may_operate(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// May approve or reject change requests (admins do not, by default).
    pub fn may_approve(self) -> bool {
        self == Role::Approver
    }

    /// May manage users and settings.
    pub fn may_administer(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side a user belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Org {
    Site,
    Product,
    Customer,
}

impl Org {
    pub const ALL: [Org; 3] = [Org::Site, Org::Product, Org::Customer];

    pub fn parse(s: &str) -> Option<Org> {
        Org::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Org::Site => "site",
            Org::Product => "product",
            Org::Customer => "customer",
        }
    }
}

impl fmt::Display for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as the rest of the console sees it (no secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub org: Org,
    pub emergency: bool,
}

/// Checks a user name: 1–64 characters of letters, digits, `.`, `_`, `-` (any script).
pub fn valid_user_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_have_the_designed_rights() {
        assert!(!Role::Viewer.may_operate() && !Role::Viewer.may_approve());
        assert!(Role::Operator.may_operate() && !Role::Operator.may_approve());
        assert!(Role::Approver.may_approve() && !Role::Approver.may_operate());
        assert!(
            Role::Admin.may_operate() && Role::Admin.may_administer() && !Role::Admin.may_approve()
        );
        assert_eq!(Role::parse("approver"), Some(Role::Approver));
        assert_eq!(Org::parse("customer"), Some(Org::Customer));
        assert_eq!(Org::parse("Customer"), None);
    }

    #[test]
    fn user_names_are_checked() {
        assert!(valid_user_name("zhang.san") && valid_user_name("张三"));
        assert!(!valid_user_name("") && !valid_user_name("a b") && !valid_user_name("x'--"));
        assert!(!valid_user_name(&"a".repeat(65)));
    }
}
