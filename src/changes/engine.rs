//! The change-request engine: submit with a frozen preview, approve / reject, execute (DESIGN §6
//! steps 1–5), break-glass with retroactive review, withdraw, expiry, and in-doubt recovery with
//! reconcile. Every step is audited in the same store transaction as the state it changes.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::model::{self, Approval, DecideRefusal, Decision, Review, State, Tally};
use super::operation::{Backup, OpError, Operation, Outcome, Preview, Reconciliation};
use super::policy::Level;
use crate::audit::{self, Event};
use crate::auth::User;
use crate::error::{AppError, AppResult};
use crate::state::App;
use crate::store::changes::{self as repo, ChangeRow, NewChange};
use crate::store::{Store, now_ms};

/// Longest reason or comment accepted.
const MAX_TEXT: usize = 2000;

fn hours_ms(h: i64) -> i64 {
    h * 3_600_000
}

fn operation(app: &App, id: &str) -> AppResult<(std::sync::Arc<dyn Operation>, Level)> {
    let op = app.operations.get(id).ok_or_else(|| {
        let known: Vec<&str> = app.operations.ids().collect();
        AppError::bad_request(
            "unknown_operation",
            format!(
                "operation `{id}` is not available; available: {}",
                known.join(", ")
            ),
        )
    })?;
    let level = app.config.level_of(id).unwrap_or(Level::G3);
    Ok((op, level))
}

fn check_text(field: &'static str, code: &'static str, text: &str) -> AppResult<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::bad_request(code, format!("{field} is required")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(AppError::bad_request(
            code,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(t.to_string())
}

/// Maps an operation failure that happened before anything was changed.
fn op_error(e: OpError) -> AppError {
    match e {
        OpError::NotConfigured(target) => AppError::TargetNotConfigured(target),
        OpError::BadParams(m) => AppError::bad_request("bad_params", m),
        OpError::NothingToChange(m) => AppError::Conflict {
            code: "nothing_to_change",
            message: m,
        },
        OpError::PreviewChanged(_) => AppError::Conflict {
            code: "preview_changed",
            message: "the rows changed since the preview; nothing was changed".into(),
        },
        // The target's own errors (unreachable, table missing, access denied) are the
        // operator's to act on, not internal ones.
        OpError::Target { error, .. } => {
            tracing::warn!(error.message = %format!("{error:#}"), "target database error during a preview");
            AppError::Unavailable(format!("the target database failed: {error:#}"))
        }
        other => AppError::Internal(anyhow::anyhow!("{other}")),
    }
}

async fn load(store: &Store, id: i64) -> AppResult<ChangeRow> {
    let mut conn = store.pool().acquire().await?;
    repo::get(&mut conn, id).await?.ok_or(AppError::NotFound)
}

/// Reads a change, expiring it first if its time ran out.
pub async fn get(app: &App, id: i64) -> AppResult<ChangeRow> {
    let change = load(&app.store, id).await?;
    if matches!(change.state, State::Pending | State::Approved)
        && !change.emergency
        && change.expires_at <= now_ms()
    {
        expire(app, &change).await?;
        return load(&app.store, id).await;
    }
    Ok(change)
}

async fn expire(app: &App, change: &ChangeRow) -> AppResult<()> {
    let mut tx = app.store.begin().await?;
    if repo::transition(
        &mut tx,
        change.id,
        change.state,
        State::Expired,
        "approval window passed",
        now_ms(),
    )
    .await?
    {
        let subject = change.id.to_string();
        audit::append(
            &mut tx,
            Event {
                actor: audit::SYSTEM,
                action: "change.expired",
                subject: &subject,
                details: json!({"operation": change.operation, "from": change.state, "params": change.params}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Expires every pending or approved change whose window passed (run periodically).
pub async fn expire_due(app: &App) -> AppResult<usize> {
    let ids = repo::ids_due_to_expire(app.store.pool(), now_ms()).await?;
    for id in &ids {
        get(app, *id).await?;
    }
    Ok(ids.len())
}

/// `POST /api/v1/changes`: previews and stores the change as `pending`.
pub async fn submit(
    app: &App,
    user: &User,
    operation_id: &str,
    params: &Value,
    reason: &str,
) -> AppResult<ChangeRow> {
    if !user.role.may_operate() {
        return Err(AppError::forbidden(
            "wrong_role",
            format!("role `{}` may not request changes", user.role),
        ));
    }
    let (op, level) = operation(app, operation_id)?;
    let reason = check_text("reason", "reason_required", reason)?;
    let params = op
        .validate(params)
        .map_err(|m| AppError::bad_request("bad_params", m))?;
    let preview = op.preview(&app.targets, &params).await.map_err(op_error)?;
    let now = now_ms();
    let new = NewChange {
        operation: op.id(),
        params: &params,
        level,
        state: State::Pending,
        reason: &reason,
        requester: &user.name,
        requester_org: user.org,
        preview: &preview,
        emergency: false,
        incident: "",
        review_due_at: None,
        now,
        expires_at: now + hours_ms(app.config.policy.approval_ttl_hours),
    };
    let mut tx = app.store.begin().await?;
    let id = repo::insert(&mut tx, &new).await?;
    audit::append(
        &mut tx,
        Event {
            actor: &user.name,
            action: "change.submitted",
            subject: &id.to_string(),
            details: json!({
                "operation": op.id(), "params": params, "level": level, "reason": reason,
                "digest": preview.digest, "count": preview.count, "target": op.subject(&params),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    load(&app.store, id).await
}

/// Whether `user` may decide on `change`, as the API error.
fn check_decider(user: &User, change: &ChangeRow) -> AppResult<()> {
    let review = change
        .emergency
        .then_some(change.review.unwrap_or(Review::Pending));
    model::may_decide(
        user,
        &change.requester,
        change.state,
        change.level,
        review,
        &change.approvals,
    )
    .map_err(|r| match r {
        DecideRefusal::WrongRole(m) => AppError::forbidden("wrong_role", m),
        DecideRefusal::SelfApproval => {
            AppError::forbidden("self_approval", "nobody approves their own change request")
        }
        DecideRefusal::AlreadyDecided => AppError::Conflict {
            code: "already_decided",
            message: "you have already decided on this change; one decision per person".into(),
        },
        DecideRefusal::NotPending(s) => AppError::Conflict {
            code: "not_pending",
            message: format!("the change is {s}; only pending changes take decisions"),
        },
    })
}

/// `POST /api/v1/changes/{id}/approvals`: an approval, a rejection, or (for break-glass changes)
/// the retroactive review.
pub async fn decide(
    app: &App,
    user: &User,
    id: i64,
    decision: Decision,
    comment: &str,
) -> AppResult<ChangeRow> {
    check_decider(user, &get(app, id).await?)?;
    let comment = comment.trim();
    if decision == Decision::Reject && comment.is_empty() {
        return Err(AppError::bad_request(
            "comment_required",
            "a rejection needs a comment saying why",
        ));
    }
    if comment.chars().count() > MAX_TEXT {
        return Err(AppError::bad_request(
            "comment_too_long",
            format!("comment is longer than {MAX_TEXT} characters"),
        ));
    }
    let now = now_ms();
    let approval = Approval {
        by: user.name.clone(),
        org: user.org,
        decision,
        comment: comment.to_string(),
        at_ms: now,
        at: crate::store::format_ms(now),
        digest: String::new(),
    };
    let mut tx = app.store.begin().await?;
    // Decisions on one change are serialised by a row lock, so two approvers deciding at the
    // same moment both see each other's decision in the tally.
    repo::lock(&mut tx, id).await?;
    // Re-checked under the lock: the change may have moved on since it was read.
    let change = repo::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    check_decider(user, &change)?;
    let approval = Approval {
        digest: change.preview.digest.clone(),
        ..approval
    };
    if !repo::insert_approval(&mut tx, id, &approval).await? {
        return Err(AppError::Conflict {
            code: "already_decided",
            message: "you have already decided on this change".into(),
        });
    }
    let decisions = repo::approvals(&mut *tx, id).await?;
    let tally = model::tally(change.level, &decisions, &change.preview.digest);
    let subject = id.to_string();
    let base = json!({
        "operation": change.operation, "params": change.params, "level": change.level,
        "digest": change.preview.digest, "comment": approval.comment,
    });
    if change.emergency {
        let review = match tally {
            Tally::Approved => Some(Review::Approved),
            Tally::Rejected => Some(Review::Rejected),
            Tally::Waiting => None,
        };
        if let Some(r) = review {
            repo::set_review(&mut tx, id, r, now).await?;
        }
        let action = if review.is_some() {
            "change.reviewed"
        } else {
            "change.review_recorded"
        };
        let mut details = base;
        details["decision"] = json!(decision);
        details["review"] = json!(review.unwrap_or(Review::Pending));
        audit::append(
            &mut tx,
            Event {
                actor: &user.name,
                action,
                subject: &subject,
                details,
            },
        )
        .await?;
    } else {
        let (action, to) = match (decision, tally) {
            (Decision::Reject, _) | (_, Tally::Rejected) => {
                ("change.rejected", Some(State::Rejected))
            }
            (Decision::Approve, Tally::Approved) => ("change.approved", Some(State::Approved)),
            (Decision::Approve, Tally::Waiting) => ("change.approval_recorded", None),
        };
        if let Some(to) = to {
            if !repo::transition(&mut tx, id, State::Pending, to, "", now).await? {
                return Err(AppError::Conflict {
                    code: "not_pending",
                    message: "the change is no longer pending".into(),
                });
            }
            if to == State::Approved {
                repo::set_expires_at(
                    &mut tx,
                    id,
                    now + hours_ms(app.config.policy.approval_ttl_hours),
                )
                .await?;
            }
        }
        audit::append(
            &mut tx,
            Event {
                actor: &user.name,
                action,
                subject: &subject,
                details: base,
            },
        )
        .await?;
    }
    tx.commit().await?;
    load(&app.store, id).await
}

/// `POST /api/v1/changes/{id}/withdraw`: the requester takes back a pending change.
pub async fn withdraw(app: &App, user: &User, id: i64) -> AppResult<ChangeRow> {
    let change = get(app, id).await?;
    if change.requester != user.name {
        return Err(AppError::forbidden(
            "not_requester",
            "only the requester may withdraw a change",
        ));
    }
    let mut tx = app.store.begin().await?;
    if !repo::transition(&mut tx, id, State::Pending, State::Withdrawn, "", now_ms()).await? {
        return Err(AppError::Conflict {
            code: "not_pending",
            message: format!(
                "the change is {}; only pending changes can be withdrawn",
                change.state
            ),
        });
    }
    audit::append(
        &mut tx,
        Event {
            actor: &user.name,
            action: "change.withdrawn",
            subject: &id.to_string(),
            details: json!({"operation": change.operation, "params": change.params}),
        },
    )
    .await?;
    tx.commit().await?;
    load(&app.store, id).await
}

/// `POST /api/v1/changes/{id}/execute`: runs an approved change (the requester only).
pub async fn execute(app: &App, user: &User, id: i64) -> AppResult<ChangeRow> {
    let change = get(app, id).await?;
    if change.requester != user.name {
        return Err(AppError::forbidden(
            "not_requester",
            "only the requester may execute the change",
        ));
    }
    match change.state {
        State::Approved => {}
        State::Executing | State::Executed | State::InDoubt => {
            return Err(AppError::Conflict {
                code: "already_executed",
                message: format!("the change is already {}", change.state),
            });
        }
        State::Pending => {
            let missing =
                model::missing_orgs(change.level, &change.approvals, &change.preview.digest);
            let names: Vec<&str> = missing.iter().map(|o| o.as_str()).collect();
            return Err(AppError::forbidden(
                "not_approved",
                format!(
                    "the change is not approved yet; waiting for: {}",
                    names.join(", ")
                ),
            ));
        }
        other => {
            return Err(AppError::forbidden(
                "not_approved",
                format!("the change is {other} and cannot run"),
            ));
        }
    }
    run(app, &user.name, change).await
}

/// Store-backed [`Backup`]: the before-image and undo are committed before the target commits.
struct StoreBackup<'a> {
    store: &'a Store,
    change_id: i64,
    actor: &'a str,
}

#[async_trait]
impl Backup for StoreBackup<'_> {
    async fn save(&self, before_image: &Value, undo: &str) -> anyhow::Result<()> {
        let mut tx = self.store.begin().await?;
        repo::save_backup(&mut tx, self.change_id, before_image, undo, now_ms()).await?;
        audit::append(
            &mut tx,
            Event {
                actor: self.actor,
                action: "change.backup_written",
                subject: &self.change_id.to_string(),
                details: json!({"rows": before_image.as_array().map(Vec::len), "undo_bytes": undo.len()}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Steps 1–5 of DESIGN §6 for an approved change.
async fn run(app: &App, actor: &str, change: ChangeRow) -> AppResult<ChangeRow> {
    let (op, _) = operation(app, &change.operation)?;
    let id = change.id;
    let subject = id.to_string();
    let details = json!({"operation": change.operation, "params": change.params, "digest": change.preview.digest});

    // 1. CAS approved → executing.
    let mut tx = app.store.begin().await?;
    if !repo::transition(&mut tx, id, State::Approved, State::Executing, "", now_ms()).await? {
        return Err(AppError::Conflict {
            code: "already_executed",
            message: "the change is already being executed".into(),
        });
    }
    audit::append(
        &mut tx,
        Event {
            actor,
            action: "change.execute.started",
            subject: &subject,
            details: details.clone(),
        },
    )
    .await?;
    tx.commit().await?;

    // 2–4. The operation re-reads under lock, backs up, applies and checks the count.
    let backup = StoreBackup {
        store: &app.store,
        change_id: id,
        actor,
    };
    let result = op
        .execute(&app.targets, &change.params, &change.preview, &backup)
        .await;

    // 5. Record the result.
    let now = now_ms();
    let mut tx = app.store.begin().await?;
    let (to, action, note, extra, error) = match &result {
        Ok(outcome) => {
            repo::set_outcome(&mut tx, id, outcome).await?;
            (State::Executed, if change.emergency { "change.emergency_executed" } else { "change.executed" }, String::new(), json!({"affected": outcome.affected}), None)
        }
        Err(OpError::PreviewChanged(now_preview)) => (
            State::Approved,
            "change.execute.refused",
            format!("not executed: the rows changed since approval (digest now {})", now_preview.digest),
            json!({"reason": "preview_changed", "digest_now": now_preview.digest, "count_now": now_preview.count}),
            Some(AppError::Conflict {
                code: "preview_changed",
                message: "the rows changed since the change was approved; nothing was changed. Withdraw it and submit a new request.".into(),
            }),
        ),
        Err(OpError::Target { error, maybe_applied: true }) => (
            State::InDoubt,
            "change.in_doubt",
            format!("the connection to the target was lost while applying; reconcile to find out whether it took effect ({error:#})"),
            json!({"error": format!("{error:#}")}),
            Some(AppError::Conflict {
                code: "in_doubt",
                message: "the target connection was lost while applying; the change is in doubt — reconcile it".into(),
            }),
        ),
        Err(e @ OpError::CountMismatch { .. }) => (
            State::Failed,
            "change.failed",
            e.to_string(),
            json!({"error": e.to_string()}),
            Some(AppError::Conflict { code: "count_mismatch", message: e.to_string() }),
        ),
        Err(e) => (
            State::Approved,
            "change.execute.aborted",
            format!("not executed: {e}"),
            json!({"error": e.to_string()}),
            Some(match e {
                OpError::NotConfigured(t) => AppError::TargetNotConfigured(t),
                other => AppError::Unavailable(format!("not executed, nothing was changed: {other}")),
            }),
        ),
    };
    repo::transition(&mut tx, id, State::Executing, to, &note, now).await?;
    let mut details = details;
    if let (Value::Object(d), Value::Object(x)) = (&mut details, extra) {
        d.extend(x);
    }
    audit::append(
        &mut tx,
        Event {
            actor,
            action,
            subject: &subject,
            details,
        },
    )
    .await?;
    tx.commit().await?;
    match error {
        Some(e) => Err(e),
        None => load(&app.store, id).await,
    }
}

/// `POST /api/v1/changes/emergency`: break-glass. Executes at once for an operator with the
/// emergency flag and no overdue review; the level's approvers review it afterwards.
pub async fn emergency(
    app: &App,
    user: &User,
    operation_id: &str,
    params: &Value,
    reason: &str,
    incident: &str,
) -> AppResult<ChangeRow> {
    if !(user.role.may_operate() && user.emergency) {
        return Err(AppError::forbidden(
            "emergency_not_allowed",
            format!(
                "user `{}` may not use break-glass (needs an operator with the emergency flag)",
                user.name
            ),
        ));
    }
    let now = now_ms();
    let overdue = repo::overdue_reviews(app.store.pool(), Some(&user.name), now).await?;
    if let Some(c) = overdue.first() {
        return Err(AppError::forbidden(
            "emergency_not_allowed",
            format!(
                "break-glass is blocked while the review of your emergency change #{} is overdue",
                c.id
            ),
        ));
    }
    let (op, level) = operation(app, operation_id)?;
    let reason = check_text("reason", "reason_required", reason)?;
    let incident = check_text("incident", "incident_required", incident)?;
    let params = op
        .validate(params)
        .map_err(|m| AppError::bad_request("bad_params", m))?;
    let preview: Preview = op.preview(&app.targets, &params).await.map_err(op_error)?;
    let new = NewChange {
        operation: op.id(),
        params: &params,
        level,
        state: State::Approved,
        reason: &reason,
        requester: &user.name,
        requester_org: user.org,
        preview: &preview,
        emergency: true,
        incident: &incident,
        review_due_at: Some(now + hours_ms(app.config.policy.emergency_review_hours)),
        now,
        expires_at: now + hours_ms(app.config.policy.emergency_review_hours),
    };
    let mut tx = app.store.begin().await?;
    let id = repo::insert(&mut tx, &new).await?;
    audit::append(
        &mut tx,
        Event {
            actor: &user.name,
            action: "change.emergency_submitted",
            subject: &id.to_string(),
            details: json!({
                "operation": op.id(), "params": params, "level": level, "reason": reason, "incident": incident,
                "digest": preview.digest, "count": preview.count,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let change = load(&app.store, id).await?;
    run(app, &user.name, change).await
}

/// Start-up recovery: every change left `executing` becomes `in_doubt`.
pub async fn recover_in_doubt(store: &Store) -> AppResult<Vec<i64>> {
    let ids = repo::ids_in_state(store.pool(), State::Executing).await?;
    for id in &ids {
        let mut tx = store.begin().await?;
        let note = "the console stopped while this change was executing; reconcile to find out whether it took effect";
        if repo::transition(
            &mut tx,
            *id,
            State::Executing,
            State::InDoubt,
            note,
            now_ms(),
        )
        .await?
        {
            audit::append(
                &mut tx,
                Event {
                    actor: audit::SYSTEM,
                    action: "change.in_doubt",
                    subject: &id.to_string(),
                    details: json!({"cause": "restart"}),
                },
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// `POST /api/v1/changes/{id}/reconcile`: re-reads the target to decide an in-doubt change.
pub async fn reconcile(app: &App, user: &User, id: i64) -> AppResult<ChangeRow> {
    let change = get(app, id).await?;
    if !user.role.may_operate() {
        return Err(AppError::forbidden(
            "wrong_role",
            format!("role `{}` may not reconcile changes", user.role),
        ));
    }
    if change.state != State::InDoubt {
        return Err(AppError::Conflict {
            code: "not_in_doubt",
            message: format!("the change is {}, not in doubt", change.state),
        });
    }
    let (op, _) = operation(app, &change.operation)?;
    let verdict = op
        .reconcile(&app.targets, &change.params, &change.preview)
        .await
        .map_err(op_error)?;
    let backup = repo::backup(app.store.pool(), id).await?;
    let now = now_ms();
    let mut tx = app.store.begin().await?;
    let subject = id.to_string();
    let (to, note, found) = match &verdict {
        Reconciliation::Applied => {
            let (before_image, undo) = backup.unwrap_or((Value::Null, String::new()));
            let outcome = Outcome {
                affected: change.preview.count as u64,
                before_image,
                undo,
            };
            repo::set_outcome(&mut tx, id, &outcome).await?;
            (
                State::Executed,
                "executed (reconciled): the target shows the change".to_string(),
                "applied",
            )
        }
        Reconciliation::NotApplied => (
            State::Failed,
            "failed (not applied): the target is exactly as approved".to_string(),
            "not_applied",
        ),
        Reconciliation::Unclear(what) => {
            (State::InDoubt, format!("still in doubt: {what}"), "unclear")
        }
    };
    if to != State::InDoubt {
        repo::transition(&mut tx, id, State::InDoubt, to, &note, now).await?;
    }
    audit::append(
        &mut tx,
        Event {
            actor: &user.name,
            action: "change.reconciled",
            subject: &subject,
            details: json!({"operation": change.operation, "params": change.params, "found": found, "state": to}),
        },
    )
    .await?;
    tx.commit().await?;
    load(&app.store, id).await
}
