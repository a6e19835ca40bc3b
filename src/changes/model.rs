//! The change-request state machine and approval rules, pure: no I/O. The engine loads a
//! change, asks these functions what is allowed, and writes the result.

use std::fmt;

use serde::Serialize;

use super::policy::Level;
use crate::auth::{Org, Role, User};

/// Change states — PINNED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    Executing,
    Executed,
    Failed,
    InDoubt,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Pending,
        State::Approved,
        State::Rejected,
        State::Withdrawn,
        State::Expired,
        State::Executing,
        State::Executed,
        State::Failed,
        State::InDoubt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
            State::Expired => "expired",
            State::Executing => "executing",
            State::Executed => "executed",
            State::Failed => "failed",
            State::InDoubt => "in_doubt",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// No further transition is possible.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Rejected | State::Withdrawn | State::Expired | State::Executed | State::Failed
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An approver's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// The retroactive review of a break-glass change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    Pending,
    Approved,
    Rejected,
}

impl Review {
    pub fn parse(s: &str) -> Option<Review> {
        match s {
            "pending" => Some(Review::Pending),
            "approved" => Some(Review::Approved),
            "rejected" => Some(Review::Rejected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Review::Pending => "pending",
            Review::Approved => "approved",
            Review::Rejected => "rejected",
        }
    }
}

/// One recorded approval or rejection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub by: String,
    pub org: Org,
    pub decision: Decision,
    pub comment: String,
    /// UTC milliseconds.
    #[serde(skip)]
    pub at_ms: i64,
    /// RFC 3339.
    pub at: String,
    /// The preview digest this decision was made on.
    pub digest: String,
}

/// What the recorded decisions amount to for a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tally {
    /// Every required org has approved and nobody rejected.
    Approved,
    /// Somebody rejected.
    Rejected,
    /// Still waiting for the orgs listed by [`missing_orgs`].
    Waiting,
}

/// Counts decisions made on `digest` (decisions on another digest never count).
pub fn tally(level: Level, decisions: &[Approval], digest: &str) -> Tally {
    let current: Vec<&Approval> = decisions.iter().filter(|a| a.digest == digest).collect();
    if current.iter().any(|a| a.decision == Decision::Reject) {
        return Tally::Rejected;
    }
    if missing_orgs(level, decisions, digest).is_empty() {
        Tally::Approved
    } else {
        Tally::Waiting
    }
}

/// The required orgs that have not approved yet.
pub fn missing_orgs(level: Level, decisions: &[Approval], digest: &str) -> Vec<Org> {
    level
        .required_orgs()
        .iter()
        .filter_map(|o| Org::parse(o))
        .filter(|org| {
            !decisions
                .iter()
                .any(|a| a.org == *org && a.decision == Decision::Approve && a.digest == digest)
        })
        .collect()
}

/// Why a user may not decide on a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecideRefusal {
    /// 403 `wrong_role`: not an approver, or of an org the level does not ask for.
    WrongRole(String),
    /// 403 `self_approval`.
    SelfApproval,
    /// 409 `already_decided`: one decision per person.
    AlreadyDecided,
    /// 409 `not_pending` (or, for emergency changes, no review pending).
    NotPending(State),
}

/// Whether `user` may approve or reject a change (or review an emergency one).
pub fn may_decide(
    user: &User,
    requester: &str,
    state: State,
    level: Level,
    emergency_review: Option<Review>,
    decisions: &[Approval],
) -> Result<(), DecideRefusal> {
    // Checked first: a requester deciding on their own change is told exactly that, whatever
    // their role.
    if user.name == requester {
        return Err(DecideRefusal::SelfApproval);
    }
    if user.role != Role::Approver {
        return Err(DecideRefusal::WrongRole(format!(
            "role `{}` may not approve changes; an approver must",
            user.role
        )));
    }
    if !level.required_orgs().contains(&user.org.as_str()) {
        return Err(DecideRefusal::WrongRole(format!(
            "{level} needs approval from {}; org `{}` is not asked",
            level.required_orgs().join(" and "),
            user.org
        )));
    }
    let open = match emergency_review {
        Some(r) => r == Review::Pending,
        None => state == State::Pending,
    };
    if !open {
        return Err(DecideRefusal::NotPending(state));
    }
    if decisions.iter().any(|a| a.by == user.name) {
        return Err(DecideRefusal::AlreadyDecided);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, org: Org) -> User {
        User {
            id: 0,
            name: name.into(),
            role,
            org,
            emergency: false,
        }
    }

    fn approval(by: &str, org: Org, decision: Decision, digest: &str) -> Approval {
        Approval {
            by: by.into(),
            org,
            decision,
            comment: String::new(),
            at_ms: 0,
            at: String::new(),
            digest: digest.into(),
        }
    }

    #[test]
    fn g2_needs_one_product_approval() {
        assert_eq!(tally(Level::G2, &[], "d"), Tally::Waiting);
        let p = approval("p", Org::Product, Decision::Approve, "d");
        assert_eq!(
            tally(Level::G2, std::slice::from_ref(&p), "d"),
            Tally::Approved
        );
        assert_eq!(
            tally(Level::G2, &[p], "other"),
            Tally::Waiting,
            "approval on another digest"
        );
    }

    #[test]
    fn g3_needs_product_and_customer_approval() {
        let p = approval("p", Org::Product, Decision::Approve, "d");
        let c = approval("c", Org::Customer, Decision::Approve, "d");
        assert_eq!(
            tally(Level::G3, std::slice::from_ref(&p), "d"),
            Tally::Waiting
        );
        assert_eq!(
            missing_orgs(Level::G3, std::slice::from_ref(&p), "d"),
            vec![Org::Customer]
        );
        assert_eq!(tally(Level::G3, &[p, c], "d"), Tally::Approved);
    }

    #[test]
    fn any_rejection_rejects() {
        let p = approval("p", Org::Product, Decision::Approve, "d");
        let r = approval("c", Org::Customer, Decision::Reject, "d");
        assert_eq!(tally(Level::G3, &[p, r], "d"), Tally::Rejected);
    }

    #[test]
    fn who_may_decide() {
        let p = user("p", Role::Approver, Org::Product);
        let c = user("c", Role::Approver, Org::Customer);
        let op = user("op", Role::Operator, Org::Site);
        let admin = user("admin", Role::Admin, Org::Site);
        let ok = |u: &User, level| may_decide(u, "requester", State::Pending, level, None, &[]);
        assert_eq!(ok(&p, Level::G2), Ok(()));
        assert!(matches!(
            ok(&op, Level::G2),
            Err(DecideRefusal::WrongRole(_))
        ));
        assert!(matches!(
            ok(&admin, Level::G2),
            Err(DecideRefusal::WrongRole(_))
        ));
        assert!(
            matches!(ok(&c, Level::G2), Err(DecideRefusal::WrongRole(_))),
            "G2 asks product only"
        );
        assert_eq!(ok(&c, Level::G3), Ok(()));
        assert_eq!(
            may_decide(&p, "p", State::Pending, Level::G2, None, &[]),
            Err(DecideRefusal::SelfApproval)
        );
        assert_eq!(
            may_decide(&op, "op", State::Pending, Level::G2, None, &[]),
            Err(DecideRefusal::SelfApproval),
            "the requester is told it is their own change"
        );
        assert_eq!(
            may_decide(&p, "op", State::Approved, Level::G2, None, &[]),
            Err(DecideRefusal::NotPending(State::Approved))
        );
        let once = [approval("p", Org::Product, Decision::Approve, "d")];
        assert_eq!(
            may_decide(&p, "op", State::Pending, Level::G3, None, &once),
            Err(DecideRefusal::AlreadyDecided)
        );
        // Emergency changes are reviewed after execution.
        assert_eq!(
            may_decide(
                &p,
                "op",
                State::Executed,
                Level::G2,
                Some(Review::Pending),
                &[]
            ),
            Ok(())
        );
        assert!(
            may_decide(
                &p,
                "op",
                State::Executed,
                Level::G2,
                Some(Review::Approved),
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn states_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert!(State::Executed.is_final() && !State::InDoubt.is_final());
    }
}
