//! The `api_tokens` table: bearer tokens stored as sha256 hashes.

use sqlx::{Any, AnyConnection, Executor, Row};

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    label: &str,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let done = sqlx::query(
        "INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(label)
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.last_insert_id())
}

/// The user id a token hash belongs to.
pub async fn user_for_hash<'c, E: Executor<'c, Database = Any>>(
    e: E,
    token_hash: &str,
) -> sqlx::Result<Option<(i64, i64)>> {
    let row = sqlx::query("SELECT id, user_id FROM api_tokens WHERE token_hash = ?")
        .bind(token_hash)
        .fetch_optional(e)
        .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("user_id")?)))
        .transpose()
}

pub async fn mark_used<'c, E: Executor<'c, Database = Any>>(
    e: E,
    id: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}
