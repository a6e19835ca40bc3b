//! Command line (PINNED, DESIGN §3) and the subcommands' implementations.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{Org, Role, password, service};
use crate::config::{self, Loaded};
use crate::store::Store;
use crate::{AppState, audit};

#[derive(Debug, Parser)]
#[command(
    name = "lhc-ops",
    version,
    about = "LHC 运维控制台 — operations console for SOFAStack CAFE / LHC"
)]
pub struct Cli {
    /// Configuration file (default: $LHC_OPS_CONFIG, then ./lhc-ops.toml, then built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console (the default).
    Serve,
    /// Sandbox: a temporary store with seeded users of every role, on loopback.
    Demo {
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Apply the own-store migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Verify or export the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Validate the configuration and print it with secrets masked.
    CheckConfig,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (prints a generated password unless --password-stdin).
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, value_parser = parse_org)]
        org: Org,
        /// May use break-glass (emergency execution).
        #[arg(long)]
        emergency: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a password (revokes the user's sessions).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a new API token for the user (shown once).
    Token {
        name: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List users.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain: exit 0 with "ok <entries> <head-hash>", or 1 naming the first bad entry.
    Verify,
    /// Write every entry to standard output.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("`{s}` is not a role: use viewer, operator, approver or admin"))
}

fn parse_org(s: &str) -> Result<Org, String> {
    Org::parse(s).ok_or_else(|| format!("`{s}` is not an org: use site, product or customer"))
}

/// Who the audit log names for CLI actions.
fn cli_actor() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

/// Runs the parsed command; the returned code is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Demo { listen } = command {
        return crate::demo::run(listen).await.map(|()| 0);
    }
    let loaded = config::load(cli.config.as_deref())?;
    match command {
        Command::Serve => {
            crate::telemetry::init(&loaded.config.log);
            serve(loaded).await.map(|()| 0)
        }
        Command::CheckConfig => {
            print!(
                "# effective configuration from {} (secrets masked)\n{}",
                loaded.source,
                loaded.config.redacted_toml()
            );
            Ok(0)
        }
        Command::Migrate => {
            let store = Store::open(&loaded.config.store.url).await?;
            let n = store.migrate().await?;
            println!(
                "applied {n} migration(s) to {}",
                loaded.config.store.url.masked()
            );
            Ok(0)
        }
        Command::User(u) => {
            user_command(&Store::open_migrated(&loaded.config.store.url).await?, u).await
        }
        Command::Audit(a) => {
            audit_command(&Store::open_migrated(&loaded.config.store.url).await?, a).await
        }
        Command::Demo { .. } => unreachable!("handled above"),
    }
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}

async fn user_command(store: &Store, cmd: UserCommand) -> anyhow::Result<i32> {
    let actor = cli_actor();
    match cmd {
        UserCommand::Add {
            name,
            role,
            org,
            emergency,
            password_stdin,
        } => {
            let (pw, generated) = if password_stdin {
                (read_password_line()?, false)
            } else {
                (password::generate(), true)
            };
            let user = service::add_user(store, &actor, &name, role, org, emergency, &pw).await?;
            println!(
                "created user {} (role {}, org {}{})",
                user.name,
                user.role,
                user.org,
                if emergency { ", emergency" } else { "" }
            );
            if generated {
                println!("password (shown once): {pw}");
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (pw, generated) = if password_stdin {
                (read_password_line()?, false)
            } else {
                (password::generate(), true)
            };
            let revoked = service::set_password(store, &actor, &name, &pw).await?;
            println!("password of {name} changed; {revoked} session(s) revoked");
            if generated {
                println!("password (shown once): {pw}");
            }
        }
        UserCommand::Token { name, label } => {
            let token = service::create_token(store, &actor, &name, &label).await?;
            println!("{token}");
            eprintln!(
                "API token for {name} (label {label:?}); it is shown once and stored only hashed."
            );
        }
        UserCommand::List => {
            let users = crate::store::users::list(store.pool()).await?;
            println!("{:<24} {:<9} {:<9} emergency", "name", "role", "org");
            for u in users {
                println!(
                    "{:<24} {:<9} {:<9} {}",
                    u.user.name,
                    u.user.role,
                    u.user.org,
                    if u.user.emergency { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(0)
}

async fn audit_command(store: &Store, cmd: AuditCommand) -> anyhow::Result<i32> {
    match cmd {
        AuditCommand::Verify => match audit::verify(store).await? {
            audit::Verdict::Ok { entries, head } => {
                println!("ok {entries} {head}");
                Ok(0)
            }
            audit::Verdict::Bad {
                first_bad_seq,
                fault,
                checked,
            } => {
                let what = match fault {
                    audit::Fault::Missing => "is missing (deleted or reordered)",
                    audit::Fault::BrokenLink => "does not link to the entry before it",
                    audit::Fault::HashMismatch => "does not match its hash (edited)",
                    audit::Fault::Truncated => "and later are missing (newest entries deleted)",
                };
                println!(
                    "bad seq {first_bad_seq}: entry {first_bad_seq} {what}; {checked} entries before it verified"
                );
                Ok(1)
            }
        },
        AuditCommand::Export { format } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if let ExportFormat::Csv = format {
                writeln!(out, "seq,at,actor,action,subject,details,prev_hash,hash")?;
            }
            audit::for_each(store, |e| {
                match format {
                    ExportFormat::Jsonl => writeln!(
                        out,
                        "{}",
                        serde_json::to_string(e).expect("entries serialise")
                    ),
                    ExportFormat::Csv => writeln!(
                        out,
                        "{},{},{},{},{},{},{},{}",
                        e.seq,
                        crate::store::format_ms(e.at),
                        csv_field(&e.actor),
                        csv_field(&e.action),
                        csv_field(&e.subject),
                        csv_field(&e.details.to_string()),
                        e.prev_hash,
                        e.hash
                    ),
                }
                .map(|()| true)
            })
            .await?;
            out.flush()?;
            let (seq, head) = audit::head(store).await?;
            eprintln!("exported {seq} entries; head {head}");
            Ok(0)
        }
    }
}

/// RFC 4180 quoting; a leading `=`, `+`, `-`, `@` is prefixed with `'` so spreadsheets do not
/// evaluate it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `serve`: open and migrate the store, record `config.loaded`, serve until SIGINT/SIGTERM.
pub async fn serve(loaded: Loaded) -> anyhow::Result<()> {
    let listen: SocketAddr = loaded
        .config
        .server
        .listen
        .parse()
        .context("server.listen")?;
    let store = Store::open_migrated(&loaded.config.store.url).await?;
    let state = AppState::new(loaded.config, loaded.source, store)?;
    let in_doubt = crate::changes::engine::recover_in_doubt(&state.store).await?;
    if !in_doubt.is_empty() {
        tracing::warn!(changes = ?in_doubt, "changes left executing by the last run are now in_doubt; reconcile them");
    }
    record_config_loaded(&state).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(server.listen = %listen, store.url = %state.config.store.url, "lhc-ops serving");
    serve_on(listener, state).await
}

/// Audits the effective configuration (masked) once per start.
pub async fn record_config_loaded(state: &AppState) -> anyhow::Result<()> {
    let masked = state.config.redacted_toml();
    let digest = password::sha256_hex(&masked);
    audit::record(
        &state.store,
        audit::Event {
            actor: audit::SYSTEM,
            action: "config.loaded",
            subject: &state.config_source.to_string(),
            details: serde_json::json!({"sha256": digest, "store": state.config.store.url.masked(), "listen": state.config.server.listen}),
        },
    )
    .await?;
    Ok(())
}

/// Serves the app on a bound listener with housekeeping, until a shutdown signal.
pub async fn serve_on(listener: tokio::net::TcpListener, state: AppState) -> anyhow::Result<()> {
    let housekeeping = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = service::housekeeping(&state.store, state.session_policy()).await {
                    tracing::warn!(error.message = %e, "housekeeping failed; will retry");
                }
                let retention = state.config.probes.retention_days;
                if let Err(e) =
                    crate::health::monitor::prune(&state.store, retention, crate::store::now_ms())
                        .await
                {
                    tracing::warn!(error.message = %e, "pruning probe history failed; will retry");
                }
                if let Err(e) = crate::changes::engine::expire_due(&state).await {
                    tracing::warn!(error.message = %e, "expiring change requests failed; will retry");
                }
            }
        })
    };
    match state.health.restore(&state.store).await {
        Ok(n) => tracing::info!(
            checks.restored = n,
            "component health restored from the last run"
        ),
        Err(e) => {
            tracing::warn!(error.message = %e, "could not restore component health; starting unknown")
        }
    }
    if let Err(e) = state
        .health
        .restore_uptime(&state.store, crate::store::now_ms())
        .await
    {
        tracing::warn!(error.message = %e, "could not load stored uptime; it restarts from now");
    }
    let probes = tokio::spawn(state.health.clone().run(state.store.clone()));
    let app = crate::app(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    housekeeping.abort();
    probes.abort();
    result.context("serving HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_subcommands_parse() {
        for args in [
            vec!["lhc-ops", "serve", "--config", "x.toml"],
            vec!["lhc-ops", "demo", "--listen", "127.0.0.1:9000"],
            vec!["lhc-ops", "migrate"],
            vec![
                "lhc-ops",
                "user",
                "add",
                "zs",
                "--role",
                "operator",
                "--org",
                "site",
                "--emergency",
                "--password-stdin",
            ],
            vec!["lhc-ops", "user", "passwd", "zs", "--password-stdin"],
            vec!["lhc-ops", "user", "token", "zs", "--label", "ci"],
            vec!["lhc-ops", "user", "list"],
            vec!["lhc-ops", "audit", "verify", "--config", "x.toml"],
            vec!["lhc-ops", "audit", "export", "--format", "csv"],
            vec!["lhc-ops", "check-config"],
            vec!["lhc-ops"],
        ] {
            Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(
            Cli::try_parse_from([
                "lhc-ops", "user", "add", "x", "--role", "root", "--org", "site"
            ])
            .is_err()
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
