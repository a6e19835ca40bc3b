//! The `login_failures` table: recent failed logins, counted per account and per address.

use sqlx::{Any, AnyConnection, Executor};

pub async fn record(
    conn: &mut AnyConnection,
    username: &str,
    address: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_failures (username, address, at) VALUES (?, ?, ?)")
        .bind(username)
        .bind(address)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failures for the account and for the address since `since`.
pub async fn counts<'c, E>(
    e: E,
    username: &str,
    address: &str,
    since: i64,
) -> sqlx::Result<(i64, i64)>
where
    E: Executor<'c, Database = Any> + Copy,
{
    let by_user =
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE username = ? AND at > ?")
            .bind(username)
            .bind(since)
            .fetch_one(e)
            .await?;
    let by_address =
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE address = ? AND at > ?")
            .bind(address)
            .bind(since)
            .fetch_one(e)
            .await?;
    Ok((by_user, by_address))
}

/// A successful login forgives the account's earlier failures.
pub async fn clear_user(conn: &mut AnyConnection, username: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE username = ?")
        .bind(username)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops rows older than `before` (housekeeping).
pub async fn prune<'c, E: Executor<'c, Database = Any>>(e: E, before: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM login_failures WHERE at < ?")
        .bind(before)
        .execute(e)
        .await?
        .rows_affected())
}
