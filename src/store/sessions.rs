//! The `sessions` table: browser sessions, stored by the sha256 of their cookie value.

use sqlx::{Any, AnyConnection, Executor, Row};

/// A live session as read back for a request.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, s: &SessionRow, address: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, address, created_at, last_seen_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.id_hash)
    .bind(s.user_id)
    .bind(&s.csrf_token)
    .bind(address)
    .bind(s.created_at)
    .bind(s.last_seen_at)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_hash<'c, E: Executor<'c, Database = Any>>(
    e: E,
    id_hash: &str,
) -> sqlx::Result<Option<SessionRow>> {
    let row = sqlx::query(
        "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = ?",
    )
    .bind(id_hash)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(SessionRow {
            id_hash: r.try_get("id_hash")?,
            user_id: r.try_get("user_id")?,
            csrf_token: r.try_get("csrf_token")?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

pub async fn touch<'c, E: Executor<'c, Database = Any>>(
    e: E,
    id_hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?")
        .bind(now)
        .bind(id_hash)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn delete<'c, E: Executor<'c, Database = Any>>(e: E, id_hash: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
        .bind(id_hash)
        .execute(e)
        .await?
        .rows_affected())
}

/// Revokes every session of a user (password change).
pub async fn delete_for_user(conn: &mut AnyConnection, user_id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Removes sessions past their absolute expiry or idle for longer than `idle_ms`.
pub async fn delete_expired<'c, E: Executor<'c, Database = Any>>(
    e: E,
    now: i64,
    idle_ms: i64,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?")
            .bind(now)
            .bind(now - idle_ms)
            .execute(e)
            .await?
            .rows_affected(),
    )
}
