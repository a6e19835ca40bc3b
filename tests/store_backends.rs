//! The console's own store on both backends: migrations, identity records, and the audit chain
//! (gapless under concurrency; edits, deletions, reorders and truncation caught at their seq).

mod support;

use lhc_ops::audit::{self, Event, Fault, Verdict};
use lhc_ops::auth::service::{self, LoginOutcome, SessionPolicy, UserError};
use lhc_ops::auth::{Org, Role};
use serde_json::json;
use support::{Backend, PASSWORD, TestStore, sql};

/// Runs one async test body on SQLite and on MariaDB.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() { super::$name(Backend::MariaDb).await }
        })*
    };
}

on_both_backends!(
    migrations_apply_once,
    audit_appends_stay_gapless_under_concurrency,
    editing_an_audit_row_fails_verify_at_that_seq,
    deleting_an_audit_row_fails_verify_at_that_seq,
    reordering_audit_rows_fails_verify_at_that_seq,
    deleting_the_newest_entries_is_detected,
    users_sessions_and_tokens_round_trip,
    sessions_expire_when_idle_or_too_old,
    password_change_revokes_sessions,
    repeated_failures_throttle_the_account,
);

const POLICY: SessionPolicy = SessionPolicy {
    idle_ms: 30 * 60_000,
    max_ms: 12 * 3_600_000,
};

async fn chain_of(db: &TestStore, n: usize) {
    for i in 0..n {
        let subject = format!("s{i}");
        audit::record(
            &db.store,
            Event {
                actor: "alice",
                action: "test.event",
                subject: &subject,
                details: json!({"i": i, "名": "值"}),
            },
        )
        .await
        .unwrap();
    }
    assert!(
        matches!(audit::verify(&db.store).await.unwrap(), Verdict::Ok { entries, .. } if entries == n as i64)
    );
}

fn bad_at(v: Verdict) -> (i64, Fault) {
    match v {
        Verdict::Bad {
            first_bad_seq,
            fault,
            ..
        } => (first_bad_seq, fault),
        ok => panic!("verify should fail, got {ok:?}"),
    }
}

async fn migrations_apply_once(b: Backend) {
    let db = TestStore::new(b).await;
    assert_eq!(db.store.migrate().await.unwrap(), 0, "already migrated");
    let (seq, hash) = audit::head(&db.store).await.unwrap();
    assert_eq!((seq, hash.as_str()), (0, audit::chain::GENESIS));
}

async fn audit_appends_stay_gapless_under_concurrency(b: Backend) {
    let db = TestStore::new(b).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let subject = format!("t{i}");
                audit::record(
                    &store,
                    Event {
                        actor: "system",
                        action: "test.concurrent",
                        subject: &subject,
                        details: json!({}),
                    },
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
    assert!(matches!(
        audit::verify(&db.store).await.unwrap(),
        Verdict::Ok { entries: 24, .. }
    ));
}

async fn editing_an_audit_row_fails_verify_at_that_seq(b: Backend) {
    let db = TestStore::new(b).await;
    chain_of(&db, 6).await;
    assert_eq!(
        sql(
            &db.store,
            r#"UPDATE audit_log SET details = '{"i":99}' WHERE seq = 4"#
        )
        .await,
        1
    );
    assert_eq!(
        bad_at(audit::verify(&db.store).await.unwrap()),
        (4, Fault::HashMismatch)
    );
}

async fn deleting_an_audit_row_fails_verify_at_that_seq(b: Backend) {
    let db = TestStore::new(b).await;
    chain_of(&db, 6).await;
    assert_eq!(
        sql(&db.store, "DELETE FROM audit_log WHERE seq = 3").await,
        1
    );
    assert_eq!(
        bad_at(audit::verify(&db.store).await.unwrap()),
        (3, Fault::Missing)
    );
}

async fn reordering_audit_rows_fails_verify_at_that_seq(b: Backend) {
    let db = TestStore::new(b).await;
    chain_of(&db, 6).await;
    sql(&db.store, "UPDATE audit_log SET seq = -1 WHERE seq = 2").await;
    sql(&db.store, "UPDATE audit_log SET seq = 2 WHERE seq = 5").await;
    sql(&db.store, "UPDATE audit_log SET seq = 5 WHERE seq = -1").await;
    assert_eq!(bad_at(audit::verify(&db.store).await.unwrap()).0, 2);
}

async fn deleting_the_newest_entries_is_detected(b: Backend) {
    let db = TestStore::new(b).await;
    chain_of(&db, 5).await;
    sql(&db.store, "DELETE FROM audit_log WHERE seq >= 4").await;
    assert_eq!(
        bad_at(audit::verify(&db.store).await.unwrap()),
        (4, Fault::Truncated)
    );
}

async fn users_sessions_and_tokens_round_trip(b: Backend) {
    let db = TestStore::new(b).await;
    let s = &db.store;
    let u = service::add_user(
        s,
        "test",
        "张三.ops",
        Role::Operator,
        Org::Site,
        true,
        PASSWORD,
    )
    .await
    .unwrap();
    assert!(u.emergency);
    assert!(matches!(
        service::add_user(
            s,
            "test",
            "张三.ops",
            Role::Viewer,
            Org::Site,
            false,
            PASSWORD
        )
        .await,
        Err(UserError::Exists(_))
    ));
    assert!(matches!(
        service::add_user(
            s,
            "test",
            "bad name",
            Role::Viewer,
            Org::Site,
            false,
            PASSWORD
        )
        .await,
        Err(UserError::BadName(_))
    ));
    assert!(matches!(
        service::add_user(s, "test", "short", Role::Viewer, Org::Site, false, "123").await,
        Err(UserError::WeakPassword(_))
    ));

    let LoginOutcome::LoggedIn { cookie_value, user } =
        service::login(s, POLICY, "张三.ops", PASSWORD, "10.1.2.3")
            .await
            .unwrap()
    else {
        panic!("login should succeed")
    };
    assert_eq!(user.role, Role::Operator);
    let active = service::resolve_session(s, POLICY, &cookie_value)
        .await
        .unwrap()
        .expect("session resolves");
    assert_eq!(active.user.name, "张三.ops");
    assert_eq!(active.csrf_token.len(), 64);
    assert!(
        service::resolve_session(s, POLICY, &"0".repeat(64))
            .await
            .unwrap()
            .is_none()
    );

    let token = service::create_token(s, "test", "张三.ops", "ci")
        .await
        .unwrap();
    assert!(token.starts_with("lhc_"));
    assert_eq!(
        service::resolve_token(s, &token)
            .await
            .unwrap()
            .unwrap()
            .name,
        "张三.ops"
    );
    assert!(
        service::resolve_token(s, "lhc_nope")
            .await
            .unwrap()
            .is_none()
    );
    // Tokens and session ids are stored only hashed.
    let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{token}'"
    )))
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(stored, 0);

    service::logout(s, &active).await.unwrap();
    assert!(
        service::resolve_session(s, POLICY, &cookie_value)
            .await
            .unwrap()
            .is_none()
    );
    let actions: Vec<String> = audit::list(
        s,
        &audit::Filter {
            after_seq: Some(0),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.action)
    .collect();
    assert_eq!(
        actions,
        ["user.created", "auth.login", "token.created", "auth.logout"]
    );
}

async fn sessions_expire_when_idle_or_too_old(b: Backend) {
    let db = TestStore::new(b).await;
    let s = &db.store;
    service::add_user(s, "test", "op", Role::Operator, Org::Site, false, PASSWORD)
        .await
        .unwrap();
    let login = || async {
        match service::login(s, POLICY, "op", PASSWORD, "127.0.0.1")
            .await
            .unwrap()
        {
            LoginOutcome::LoggedIn { cookie_value, .. } => cookie_value,
            other => panic!("{other:?}"),
        }
    };
    let idle = login().await;
    sql(
        s,
        &format!(
            "UPDATE sessions SET last_seen_at = last_seen_at - {} WHERE id_hash = '{}'",
            POLICY.idle_ms + 1,
            lhc_ops::auth::password::sha256_hex(&idle)
        ),
    )
    .await;
    assert!(
        service::resolve_session(s, POLICY, &idle)
            .await
            .unwrap()
            .is_none(),
        "idle session expired"
    );
    let old = login().await;
    sql(
        s,
        &format!(
            "UPDATE sessions SET expires_at = 1 WHERE id_hash = '{}'",
            lhc_ops::auth::password::sha256_hex(&old)
        ),
    )
    .await;
    assert!(
        service::resolve_session(s, POLICY, &old)
            .await
            .unwrap()
            .is_none(),
        "absolute expiry"
    );
    let fresh = login().await;
    assert!(
        service::resolve_session(s, POLICY, &fresh)
            .await
            .unwrap()
            .is_some()
    );
}

async fn password_change_revokes_sessions(b: Backend) {
    let db = TestStore::new(b).await;
    let s = &db.store;
    service::add_user(s, "test", "op", Role::Operator, Org::Site, false, PASSWORD)
        .await
        .unwrap();
    let LoginOutcome::LoggedIn { cookie_value, .. } =
        service::login(s, POLICY, "op", PASSWORD, "127.0.0.1")
            .await
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        service::set_password(s, "admin", "op", "another-long-password")
            .await
            .unwrap(),
        1
    );
    assert!(
        service::resolve_session(s, POLICY, &cookie_value)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        service::login(s, POLICY, "op", PASSWORD, "127.0.0.1")
            .await
            .unwrap(),
        LoginOutcome::BadCredentials
    ));
    assert!(matches!(
        service::login(s, POLICY, "op", "another-long-password", "127.0.0.1")
            .await
            .unwrap(),
        LoginOutcome::LoggedIn { .. }
    ));
    assert!(matches!(
        service::set_password(s, "admin", "ghost", "another-long-password").await,
        Err(UserError::NoSuchUser(_))
    ));
}

async fn repeated_failures_throttle_the_account(b: Backend) {
    let db = TestStore::new(b).await;
    let s = &db.store;
    service::add_user(s, "test", "op", Role::Operator, Org::Site, false, PASSWORD)
        .await
        .unwrap();
    for _ in 0..service::ACCOUNT_FAILURE_LIMIT {
        assert!(matches!(
            service::login(s, POLICY, "op", "wrong", "10.0.0.1")
                .await
                .unwrap(),
            LoginOutcome::BadCredentials
        ));
    }
    // Even the right password is refused now, from any address.
    assert!(matches!(
        service::login(s, POLICY, "op", PASSWORD, "10.0.0.2")
            .await
            .unwrap(),
        LoginOutcome::Throttled { .. }
    ));
    let failed = audit::list(
        s,
        &audit::Filter {
            action: Some("auth.login_failed".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(failed.len() as i64, service::ACCOUNT_FAILURE_LIMIT);
    assert_eq!(failed[0].details["address"], "10.0.0.1");
    // Per address: many accounts guessed from one address.
    for i in 0..service::ADDRESS_FAILURE_LIMIT {
        service::login(s, POLICY, &format!("guess{i}"), "x", "10.9.9.9")
            .await
            .unwrap();
    }
    service::add_user(
        s,
        "test",
        "other",
        Role::Viewer,
        Org::Customer,
        false,
        PASSWORD,
    )
    .await
    .unwrap();
    assert!(matches!(
        service::login(s, POLICY, "other", PASSWORD, "10.9.9.9")
            .await
            .unwrap(),
        LoginOutcome::Throttled { .. }
    ));
    assert!(matches!(
        service::login(s, POLICY, "other", PASSWORD, "10.9.9.10")
            .await
            .unwrap(),
        LoginOutcome::LoggedIn { .. }
    ));
}
