//! The `users` table.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::auth::{Org, Role, User};

/// A stored user, including the password hash (never leaves the auth layer).
#[derive(Clone, Debug)]
pub struct UserRow {
    pub user: User,
    pub password_hash: String,
    pub password_changed_at: i64,
}

const COLUMNS: &str = "id, name, role, org, emergency, password_hash, password_changed_at";

fn from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<UserRow> {
    let role: String = r.try_get("role")?;
    let org: String = r.try_get("org")?;
    let decode = |col: &str, v: &str| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: format!("unknown value `{v}`").into(),
    };
    Ok(UserRow {
        user: User {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: Role::parse(&role).ok_or_else(|| decode("role", &role))?,
            org: Org::parse(&org).ok_or_else(|| decode("org", &org))?,
            emergency: r.try_get::<i64, _>("emergency")? != 0,
        },
        password_hash: r.try_get("password_hash")?,
        password_changed_at: r.try_get("password_changed_at")?,
    })
}

/// Inserts a user; `Ok(None)` when the name is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    org: Org,
    emergency: bool,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let taken = sqlx::query("SELECT id FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let done = sqlx::query(
        "INSERT INTO users (name, role, org, emergency, password_hash, created_at, password_changed_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(org.as_str())
    .bind(i64::from(emergency))
    .bind(password_hash)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.last_insert_id())
}

pub async fn by_name<'c, E: Executor<'c, Database = Any>>(
    e: E,
    name: &str,
) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE name = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(e)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn by_id<'c, E: Executor<'c, Database = Any>>(
    e: E,
    id: i64,
) -> sqlx::Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(e)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn list<'c, E: Executor<'c, Database = Any>>(e: E) -> sqlx::Result<Vec<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(e)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Replaces the password hash; returns whether the user exists.
pub async fn set_password(
    conn: &mut AnyConnection,
    id: i64,
    hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}
