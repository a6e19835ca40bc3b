//! The binary's PINNED command line, run as a user would: help, check-config, migrate, user
//! management, and `audit verify` failing at the seq of a row edited with a SQL client — on a
//! SQLite file and on MariaDB.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{Backend, TestStore, sql};

const BIN: &str = env!("CARGO_BIN_EXE_lhc-ops");

fn run(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("LHC_OPS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config_file(dir: &tempfile::TempDir, body: &str) -> std::path::PathBuf {
    let p = dir.path().join("lhc-ops.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn help_lists_the_pinned_subcommands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in ["serve", "demo", "migrate", "user", "audit", "check-config"] {
        assert!(text.contains(sub), "{sub} missing from:\n{text}");
    }
    let user = stdout(&Command::new(BIN).args(["user", "--help"]).output().unwrap());
    for sub in ["add", "passwd", "token", "list"] {
        assert!(user.contains(sub), "{sub}: {user}");
    }
    let audit = stdout(
        &Command::new(BIN)
            .args(["audit", "--help"])
            .output()
            .unwrap(),
    );
    assert!(
        audit.contains("verify") && audit.contains("export"),
        "{audit}"
    );
}

#[test]
fn check_config_masks_secrets_and_rejects_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let good = config_file(
        &dir,
        "[store]\nurl = \"mysql://lhc:S3cret-pw@db.internal:3306/lhcops\"\n[alerts]\nwebhook_token = \"tok-very-secret\"\n",
    );
    let out = run(&good, &["check-config"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("mysql://lhc:***@db.internal:3306/lhcops"),
        "{text}"
    );
    assert!(
        !text.contains("S3cret-pw") && !text.contains("tok-very-secret"),
        "{text}"
    );

    let orch = config_file(
        &dir,
        "[[components]]\nname = \"opswareorch\"\nhosts = [\"10.0.0.5\"]\ntcp = [80, 1234]\n",
    );
    let out = run(&orch, &["check-config"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("1234") && err.contains("§6.4.4") && err.contains("CommandCompleter"),
        "{err}"
    );

    let typo = config_file(&dir, "[server]\nlisen = \"127.0.0.1:1\"\n");
    let err = stderr(&run(&typo, &["check-config"], None));
    assert!(
        err.contains("server.lisen") && err.contains("lhc-ops.toml"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["check-config"])
        .env_remove("LHC_OPS_CONFIG")
        .env("LHC_OPS_SERVER__LISTEN", "not-an-address")
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("server.listen"), "{}", stderr(&out));

    let missing = run(&dir.path().join("nope.toml"), &["check-config"], None);
    assert!(
        stderr(&missing).contains("nope.toml"),
        "{}",
        stderr(&missing)
    );
}

async fn users_tokens_and_tampered_audit(backend: Backend) {
    let db = TestStore::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&dir, &format!("[store]\nurl = \"{}\"\n", db.url.expose()));

    let out = run(&config, &["migrate"], None);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(
        &config,
        &[
            "user",
            "add",
            "ops.wang",
            "--role",
            "operator",
            "--org",
            "site",
            "--emergency",
            "--password-stdin",
        ],
        Some("a-long-password-1\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("a-long-password-1"),
        "a typed password is never echoed"
    );
    let out = run(
        &config,
        &[
            "user",
            "add",
            "appr.chen",
            "--role",
            "approver",
            "--org",
            "product",
        ],
        None,
    );
    let text = stdout(&out);
    let generated = text
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("generated password printed")
        .to_string();
    assert_eq!(generated.len(), 16);
    let dup = run(
        &config,
        &[
            "user", "add", "ops.wang", "--role", "viewer", "--org", "site",
        ],
        None,
    );
    assert_eq!(dup.status.code(), Some(2));
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let short = run(
        &config,
        &["user", "passwd", "ops.wang", "--password-stdin"],
        Some("short\n"),
    );
    assert!(stderr(&short).contains("at least 10"), "{}", stderr(&short));

    let list = stdout(&run(&config, &["user", "list"], None));
    assert!(
        list.contains("ops.wang")
            && list.contains("operator")
            && list.contains("appr.chen")
            && list.contains("product"),
        "{list}"
    );

    let token_out = run(
        &config,
        &["user", "token", "ops.wang", "--label", "automation"],
        None,
    );
    let token = stdout(&token_out).trim().to_string();
    assert!(token.starts_with("lhc_") && token.len() > 60, "{token}");

    let out = run(&config, &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[0], "ok");
    let entries: i64 = parts[1].parse().unwrap();
    assert_eq!(
        entries, 3,
        "user.created ×2 and token.created (the refused password is not a change): {line}"
    );
    assert_eq!(parts[2].len(), 64);

    let jsonl = stdout(&run(&config, &["audit", "export"], None));
    assert_eq!(jsonl.lines().count() as i64, entries);
    assert!(!jsonl.contains(&token), "tokens never reach the audit log");
    let csv = stdout(&run(&config, &["audit", "export", "--format", "csv"], None));
    assert!(csv.starts_with("seq,at,actor,action,subject,details,prev_hash,hash\n"));

    // Edit one row as a SQL client would: verify exits 1 naming that seq.
    sql(
        &db.store,
        "UPDATE audit_log SET subject = 'someone' WHERE seq = 2",
    )
    .await;
    let out = run(&config, &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("seq 2"), "{}", stdout(&out));
}

#[tokio::test]
async fn users_tokens_and_tampered_audit_on_sqlite() {
    users_tokens_and_tampered_audit(Backend::Sqlite).await;
}

#[tokio::test]
async fn users_tokens_and_tampered_audit_on_mariadb() {
    users_tokens_and_tampered_audit(Backend::MariaDb).await;
}

#[test]
fn the_sqlite_store_and_its_folder_are_created_on_first_run_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/folder/store.db");
    let config = config_file(
        &dir,
        &format!("[store]\nurl = \"sqlite://{}\"\n", db.display()),
    );
    let out = run(&config, &["migrate"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applied 4 migration"),
        "{}",
        stdout(&out)
    );
    assert!(db.exists());
    let header = std::fs::read(&db).unwrap();
    assert_eq!(header[18], 2, "file format write version 2 = WAL");
    let again = run(&config, &["migrate"], None);
    assert!(
        stdout(&again).contains("applied 0 migration"),
        "{}",
        stdout(&again)
    );
}
