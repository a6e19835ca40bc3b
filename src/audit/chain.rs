//! The audit hash chain, pure: canonical encoding, hashing and verification of a sequence of
//! entries. No I/O.
//!
//! `hash = sha256(prev_hash ‖ canonical_json(entry without hash))`, hex encoded. The canonical
//! JSON has sorted keys at every depth and no whitespace; `at` is RFC 3339 UTC with milliseconds.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The `prev_hash` of entry 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    /// UTC milliseconds.
    #[serde(serialize_with = "serialize_at")]
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

fn serialize_at<S: serde::Serializer>(at: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::store::format_ms(*at))
}

/// Sorts object keys recursively (serde_json's default map is already ordered; this also
/// normalises values built elsewhere).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: std::collections::BTreeMap<_, _> =
                m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The hash an entry must carry, given its fields and its predecessor's hash.
pub fn compute_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &Value,
    prev_hash: &str,
) -> String {
    let body = canonical(&json!({
        "seq": seq,
        "at": crate::store::format_ms(at),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "prev_hash": prev_hash,
    }));
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(
        serde_json::to_string(&body)
            .expect("json values serialise")
            .as_bytes(),
    );
    hex::encode(h.finalize())
}

/// Why verification stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// An entry with this seq is missing (deleted, or rows reordered).
    Missing,
    /// The entry's `prev_hash` is not its predecessor's hash.
    BrokenLink,
    /// The entry's content does not match its hash (edited).
    HashMismatch,
    /// Entries at the end are gone: the head row names a later seq.
    Truncated,
}

/// The result of verifying a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok {
        entries: i64,
        head: String,
    },
    Bad {
        first_bad_seq: i64,
        fault: Fault,
        checked: i64,
    },
}

/// Incremental verifier: feed entries in ascending `seq` order, then [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    bad: Option<(i64, Fault)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
            bad: None,
        }
    }
}

impl Verifier {
    /// Checks the next entry; returns false once the chain is broken (later entries are ignored).
    pub fn push(&mut self, e: &Entry) -> bool {
        if self.bad.is_some() {
            return false;
        }
        let fault = if e.seq != self.expected_seq {
            Some((self.expected_seq, Fault::Missing))
        } else if e.prev_hash != self.prev_hash {
            Some((e.seq, Fault::BrokenLink))
        } else if compute_hash(
            e.seq,
            e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.details,
            &e.prev_hash,
        ) != e.hash
        {
            Some((e.seq, Fault::HashMismatch))
        } else {
            None
        };
        match fault {
            Some(f) => {
                self.bad = Some(f);
                false
            }
            None => {
                self.expected_seq += 1;
                self.prev_hash = e.hash.clone();
                true
            }
        }
    }

    /// The verdict, given the head row's `seq` and `hash` (which detect deleted newest entries).
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Verdict {
        let checked = self.expected_seq - 1;
        if let Some((first_bad_seq, fault)) = self.bad {
            return Verdict::Bad {
                first_bad_seq,
                fault,
                checked,
            };
        }
        if head_seq > checked {
            return Verdict::Bad {
                first_bad_seq: checked + 1,
                fault: Fault::Truncated,
                checked,
            };
        }
        if head_seq == checked && head_hash != self.prev_hash {
            return Verdict::Bad {
                first_bad_seq: checked,
                fault: Fault::HashMismatch,
                checked,
            };
        }
        Verdict::Ok {
            entries: checked,
            head: self.prev_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let details = json!({"b": seq, "a": "值"});
                let hash = compute_hash(
                    seq,
                    1_000 * seq,
                    "alice",
                    "auth.login",
                    "alice",
                    &details,
                    &prev,
                );
                let e = Entry {
                    seq,
                    at: 1_000 * seq,
                    actor: "alice".into(),
                    action: "auth.login".into(),
                    subject: "alice".into(),
                    details,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(entries: &[Entry], head_seq: i64, head_hash: &str) -> Verdict {
        let mut v = Verifier::default();
        for e in entries {
            v.push(e);
        }
        v.finish(head_seq, head_hash)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let head = c[4].hash.clone();
        assert_eq!(
            verify(&c, 5, &head),
            Verdict::Ok {
                entries: 5,
                head: head.clone()
            }
        );
        assert_eq!(
            verify(&[], 0, GENESIS),
            Verdict::Ok {
                entries: 0,
                head: GENESIS.into()
            }
        );
    }

    #[test]
    fn editing_an_entry_fails_at_that_seq() {
        let mut c = chain(5);
        c[2].details = json!({"a": "值", "b": 999});
        let head = c[4].hash.clone();
        assert!(matches!(
            verify(&c, 5, &head),
            Verdict::Bad {
                first_bad_seq: 3,
                fault: Fault::HashMismatch,
                ..
            }
        ));
    }

    #[test]
    fn deleting_or_reordering_fails_at_that_seq() {
        let c = chain(5);
        let head = c[4].hash.clone();
        let deleted: Vec<_> = c.iter().filter(|e| e.seq != 2).cloned().collect();
        assert!(matches!(
            verify(&deleted, 5, &head),
            Verdict::Bad {
                first_bad_seq: 2,
                fault: Fault::Missing,
                ..
            }
        ));
        let mut swapped = c.clone();
        let (a, b) = (swapped[2].clone(), swapped[3].clone());
        swapped[2] = Entry { seq: 3, ..b };
        swapped[3] = Entry { seq: 4, ..a };
        assert!(matches!(
            verify(&swapped, 5, &head),
            Verdict::Bad {
                first_bad_seq: 3,
                ..
            }
        ));
        assert!(matches!(
            verify(&c[..3], 5, &head),
            Verdict::Bad {
                first_bad_seq: 4,
                fault: Fault::Truncated,
                ..
            }
        ));
    }

    #[test]
    fn hash_does_not_depend_on_key_order() {
        let a = compute_hash(
            1,
            5,
            "x",
            "y",
            "z",
            &json!({"a": 1, "b": {"d": 2, "c": 3}}),
            GENESIS,
        );
        let parsed: Value = serde_json::from_str(r#"{"b": {"c": 3, "d": 2}, "a": 1}"#).unwrap();
        assert_eq!(a, compute_hash(1, 5, "x", "y", "z", &parsed, GENESIS));
        assert_ne!(a, compute_hash(2, 5, "x", "y", "z", &parsed, GENESIS));
    }
}
