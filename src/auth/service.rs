//! Identity operations shared by the web layer and the CLI: log in and out, resolve sessions and
//! tokens, add users, change passwords, issue API tokens. Each change is audited in the same
//! store transaction.

use serde_json::json;

use super::{Org, Role, User, password};
use crate::audit::{self, Event};
use crate::store::{self, Store, now_ms, sessions, throttle, tokens, users};

/// Failed logins allowed per account within [`THROTTLE_WINDOW_MS`].
pub const ACCOUNT_FAILURE_LIMIT: i64 = 5;
/// Failed logins allowed per source address within [`THROTTLE_WINDOW_MS`].
pub const ADDRESS_FAILURE_LIMIT: i64 = 20;
/// The throttling window: 15 minutes.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Prefix of API tokens, so they are recognisable in a secret scanner.
pub const TOKEN_PREFIX: &str = "lhc_";
/// A session is touched (idle timer restarted) at most this often.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// Session lifetimes from `[server]`.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub max_ms: i64,
}

impl SessionPolicy {
    pub fn from_config(c: &crate::config::ServerConfig) -> Self {
        SessionPolicy {
            idle_ms: c.session_idle_minutes * 60_000,
            max_ms: c.session_max_hours * 3_600_000,
        }
    }
}

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Logged in: the cookie value (shown to the browser once) and the user.
    LoggedIn {
        cookie_value: String,
        user: User,
    },
    BadCredentials,
    /// Too many recent failures for this account or address.
    Throttled {
        retry_after_s: i64,
    },
}

/// Errors of user management, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name `{0}` is not valid: use 1–64 letters, digits, `.`, `_` or `-`")]
    BadName(String),
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user named `{0}`")]
    NoSuchUser(String),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("token label must be 1–100 characters")]
    BadLabel,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Checks throttling, verifies the password, and on success creates a session — auditing
/// `auth.login`, `auth.login_failed` or `auth.login_throttled` with the source address.
pub async fn login(
    store: &Store,
    policy: SessionPolicy,
    username: &str,
    password_given: &str,
    address: &str,
) -> Result<LoginOutcome, sqlx::Error> {
    let now = now_ms();
    let username = username.trim();
    let (by_user, by_address) =
        throttle::counts(store.pool(), username, address, now - THROTTLE_WINDOW_MS).await?;
    if by_user >= ACCOUNT_FAILURE_LIMIT || by_address >= ADDRESS_FAILURE_LIMIT {
        let reason = if by_user >= ACCOUNT_FAILURE_LIMIT {
            "account"
        } else {
            "address"
        };
        audit::record(
            store,
            Event {
                actor: audit::SYSTEM,
                action: "auth.login_throttled",
                subject: username,
                details: json!({"address": address, "limit": reason}),
            },
        )
        .await?;
        return Ok(LoginOutcome::Throttled {
            retry_after_s: THROTTLE_WINDOW_MS / 1000,
        });
    }

    let row = users::by_name(store.pool(), username).await?;
    let ok = {
        let given = password_given.to_string();
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        tokio::task::spawn_blocking(move || match stored {
            Some(h) => password::verify(&given, &h),
            None => {
                password::verify_dummy(&given);
                false
            }
        })
        .await
        .unwrap_or(false)
    };

    let mut tx = store.begin().await?;
    let outcome = match (ok, row) {
        (true, Some(row)) => {
            let cookie_value = password::random_hex();
            let session = sessions::SessionRow {
                id_hash: password::sha256_hex(&cookie_value),
                user_id: row.user.id,
                csrf_token: password::random_hex(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + policy.max_ms,
            };
            sessions::insert(&mut tx, &session, address).await?;
            throttle::clear_user(&mut tx, username).await?;
            audit::append(
                &mut tx,
                Event {
                    actor: &row.user.name,
                    action: "auth.login",
                    subject: &row.user.name,
                    details: json!({"address": address, "role": row.user.role, "org": row.user.org}),
                },
            )
            .await?;
            LoginOutcome::LoggedIn {
                cookie_value,
                user: row.user,
            }
        }
        (_, row) => {
            throttle::record(&mut tx, username, address, now).await?;
            audit::append(
                &mut tx,
                Event {
                    actor: audit::SYSTEM,
                    action: "auth.login_failed",
                    subject: username,
                    details: json!({"address": address, "known_user": row.is_some()}),
                },
            )
            .await?;
            LoginOutcome::BadCredentials
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// A resolved browser session.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub user: User,
    pub id_hash: String,
    pub csrf_token: String,
}

/// Looks up a session cookie; expired (idle or absolute) or orphaned sessions are deleted and
/// give `None`.
pub async fn resolve_session(
    store: &Store,
    policy: SessionPolicy,
    cookie_value: &str,
) -> Result<Option<ActiveSession>, sqlx::Error> {
    if cookie_value.len() != 64 || !cookie_value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let id_hash = password::sha256_hex(cookie_value);
    let Some(s) = sessions::by_hash(store.pool(), &id_hash).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let user = users::by_id(store.pool(), s.user_id).await?;
    let live = now < s.expires_at && now - s.last_seen_at < policy.idle_ms;
    let (Some(user), true) = (user.filter(|u| u.password_changed_at <= s.created_at), live) else {
        sessions::delete(store.pool(), &id_hash).await?;
        return Ok(None);
    };
    if now - s.last_seen_at >= TOUCH_EVERY_MS {
        sessions::touch(store.pool(), &id_hash, now).await?;
    }
    Ok(Some(ActiveSession {
        user: user.user,
        id_hash,
        csrf_token: s.csrf_token,
    }))
}

/// Looks up a bearer token.
pub async fn resolve_token(store: &Store, token: &str) -> Result<Option<User>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some((token_id, user_id)) =
        tokens::user_for_hash(store.pool(), &password::sha256_hex(token)).await?
    else {
        return Ok(None);
    };
    tokens::mark_used(store.pool(), token_id, now_ms()).await?;
    Ok(users::by_id(store.pool(), user_id).await?.map(|r| r.user))
}

/// Ends a session, audited as `auth.logout`.
pub async fn logout(store: &Store, session: &ActiveSession) -> Result<(), sqlx::Error> {
    let mut tx = store.begin().await?;
    sessions::delete(&mut *tx, &session.id_hash).await?;
    audit::append(
        &mut tx,
        Event {
            actor: &session.user.name,
            action: "auth.logout",
            subject: &session.user.name,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await
}

/// Creates a user, audited as `user.created` by `actor`.
pub async fn add_user(
    store: &Store,
    actor: &str,
    name: &str,
    role: Role,
    org: Org,
    emergency: bool,
    password_plain: &str,
) -> Result<User, UserError> {
    if !super::valid_user_name(name) {
        return Err(UserError::BadName(name.to_string()));
    }
    if let Some(w) = password::weakness(password_plain) {
        return Err(UserError::WeakPassword(w));
    }
    let hash = hash_blocking(password_plain).await;
    let mut tx = store.begin().await?;
    let Some(id) = users::insert(&mut tx, name, role, org, emergency, &hash, now_ms()).await?
    else {
        return Err(UserError::Exists(name.to_string()));
    };
    audit::append(
        &mut tx,
        Event {
            actor,
            action: "user.created",
            subject: name,
            details: json!({"role": role, "org": org, "emergency": emergency}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(User {
        id,
        name: name.to_string(),
        role,
        org,
        emergency,
    })
}

/// Changes a password and revokes every session of the user, audited as `user.password_changed`.
pub async fn set_password(
    store: &Store,
    actor: &str,
    name: &str,
    password_plain: &str,
) -> Result<u64, UserError> {
    if let Some(w) = password::weakness(password_plain) {
        return Err(UserError::WeakPassword(w));
    }
    let Some(row) = users::by_name(store.pool(), name).await? else {
        return Err(UserError::NoSuchUser(name.to_string()));
    };
    let hash = hash_blocking(password_plain).await;
    let mut tx = store.begin().await?;
    users::set_password(&mut tx, row.user.id, &hash, now_ms()).await?;
    let revoked = sessions::delete_for_user(&mut tx, row.user.id).await?;
    audit::append(
        &mut tx,
        Event {
            actor,
            action: "user.password_changed",
            subject: name,
            details: json!({"sessions_revoked": revoked}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Issues an API token for `name`; the clear token is returned once and stored only hashed.
pub async fn create_token(
    store: &Store,
    actor: &str,
    name: &str,
    label: &str,
) -> Result<String, UserError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(UserError::BadLabel);
    }
    let Some(row) = users::by_name(store.pool(), name).await? else {
        return Err(UserError::NoSuchUser(name.to_string()));
    };
    let token = format!("{TOKEN_PREFIX}{}", password::random_hex());
    let mut tx = store.begin().await?;
    let id = tokens::insert(
        &mut tx,
        row.user.id,
        label,
        &password::sha256_hex(&token),
        now_ms(),
    )
    .await?;
    audit::append(
        &mut tx,
        Event {
            actor,
            action: "token.created",
            subject: name,
            details: json!({"label": label, "token_id": id}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

async fn hash_blocking(p: &str) -> String {
    let p = p.to_string();
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .expect("hashing does not panic")
}

/// Deletes expired sessions and old login failures (run periodically).
pub async fn housekeeping(store: &Store, policy: SessionPolicy) -> Result<(), sqlx::Error> {
    let now = store::now_ms();
    sessions::delete_expired(store.pool(), now, policy.idle_ms).await?;
    throttle::prune(store.pool(), now - THROTTLE_WINDOW_MS).await?;
    Ok(())
}
