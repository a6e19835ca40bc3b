//! `lhc_ops::targets::rows` against a real MariaDB: every column of a realistic external table
//! is read exactly, the preview digest sees any single-cell change, and the generated INSERT /
//! UPDATE undo scripts restore every column exactly, also under hostile `sql_mode`s.

use std::future::Future;

use lhc_ops::demo::mariadb::MariaDb;
use lhc_ops::targets::rows::{self, Cell, Column};
use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Connection, Row};

/// Runs `body` on a fresh database (its URL as argument) and drops the database afterwards,
/// also when `body` panics.
async fn with_database<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = MariaDb::find_or_start()
        .await
        .unwrap_or_else(|e| panic!("the MariaDB tests need a server: {e}"));
    let url = server
        .create_database("rows_test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = tokio::spawn(body(url.clone())).await;
    if let Err(e) = server.drop_database(&url).await {
        eprintln!("warning: could not drop the test database: {e}");
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

async fn connect(url: &str) -> MySqlConnection {
    MySqlConnection::connect(url).await.unwrap()
}

/// Runs a (possibly multi-statement) script over the text protocol.
async fn exec(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- in ---\n{sql}"));
}

/// Every row of `table` as cells (prepared statement, i.e. the binary protocol), in `order`.
async fn read(
    conn: &mut MySqlConnection,
    table: &str,
    cols: &[Column],
    order: &str,
) -> Vec<Vec<Cell>> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {order}",
        rows::select_list(cols),
        rows::ident(table)
    );
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| rows::decode_row(r, cols).unwrap())
        .collect()
}

/// The same read over the text protocol.
async fn read_text(
    conn: &mut MySqlConnection,
    table: &str,
    cols: &[Column],
    order: &str,
) -> Vec<Vec<Cell>> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {order}",
        rows::select_list(cols),
        rows::ident(table)
    );
    sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| rows::decode_row(r, cols).unwrap())
        .collect()
}

/// Every row, sorted (for tables without a primary key).
async fn read_sorted(conn: &mut MySqlConnection, table: &str, cols: &[Column]) -> Vec<Vec<Cell>> {
    let mut all = read(conn, table, cols, "1").await;
    all.sort_by_key(|r| serde_json::to_string(r).unwrap());
    all
}

fn preview(cols: &[Column], cells: &[Vec<Cell>]) -> Vec<serde_json::Value> {
    cells.iter().map(|r| rows::row_json(cols, r)).collect()
}

/// The server's own checksum of the table's data — a referee independent of this module.
async fn checksum(conn: &mut MySqlConnection, table: &str) -> String {
    let sql = format!("CHECKSUM TABLE {} EXTENDED", rows::ident(table));
    let row = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.try_get_unchecked::<Option<String>, _>(1)
        .unwrap()
        .expect("table has a checksum")
}

fn col<'a>(cols: &'a [Column], name: &str) -> &'a Column {
    cols.iter().find(|c| c.name == name).unwrap()
}

fn cell<'a>(cols: &[Column], row: &'a [Cell], name: &str) -> &'a Cell {
    &row[cols.iter().position(|c| c.name == name).unwrap()]
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The modes the undo scripts must be immune to (sqlx adds PIPES_AS_CONCAT itself).
const MODES: &[&str] = &[
    "CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
    "'ANSI,NO_BACKSLASH_ESCAPES,EMPTY_STRING_IS_NULL,STRICT_ALL_TABLES'",
];

const MUTEX: &str = "lks_res_deploy_mutex";

const MUTEX_DDL: &str = "CREATE TABLE lks_res_deploy_mutex (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    gmt_create DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    ref_res_type VARCHAR(64) NOT NULL,
    ref_resource VARCHAR(255) NOT NULL,
    tenant VARCHAR(64) NULL,
    amount DECIMAL(12,4) NULL,
    ratio DOUBLE NULL,
    flags BIT(8) NULL,
    payload JSON NULL,
    note TEXT NULL,
    raw BLOB NULL,
    happened TIMESTAMP(6) NULL,
    d DATE NULL,
    t TIME NULL,
    y YEAR NULL,
    small TINYINT NULL,
    neg BIGINT NULL,
    ubig BIGINT UNSIGNED NULL,
    f FLOAT NULL,
    precise DECIMAL(65,30) NULL,
    code CHAR(8) NULL,
    kind ENUM('a','b','it''s') NULL,
    tags SET('x','y','z') NULL,
    vb VARBINARY(16) NULL,
    bn BINARY(4) NULL,
    b1 BIT(1) NULL,
    b64 BIT(64) NULL,
    t6 TIME(6) NULL,
    pos POINT NULL,
    `we``ird col` VARCHAR(16) NULL,
    KEY (ref_resource)
) DEFAULT CHARSET=utf8mb4";

const TENANT: &str = "租户'😀\\";
const RESOURCE: &str = "app-α 'q' \\ \"dq\"";
const PAYLOAD: &str = r#"{"名": "值", "emoji": "😀", "q": "\"x\"", "esc": "\\n"}"#;
const NOTE: &str = "line1\nline2\r\n\ttab 'q' \"dq\" \\ back\0nul 😀 日本語 \u{7f}";
const RAW: &[u8] = &[0, 1, 0x27, 0x5c, 0, 0x22, 0xff];

/// Creates the mutex table and fills it with awkward rows (ids 1..=6).
async fn fill_mutex(conn: &mut MySqlConnection) {
    exec(conn, MUTEX_DDL).await;
    // 1: NULL wherever allowed.
    exec(
        conn,
        "INSERT INTO lks_res_deploy_mutex (id, gmt_create, gmt_modified, ref_res_type, ref_resource)
         VALUES (1, '2026-01-02 03:04:05', '2026-01-02 03:04:05.678', 'MULTI_CONTAINER_SERVICE', 'app-null')",
    )
    .await;
    // 2: awkward text and bytes, minimum integers, 0.1-style floats.
    sqlx::query(
        "INSERT INTO lks_res_deploy_mutex (id, gmt_create, gmt_modified, ref_res_type, ref_resource,
             tenant, amount, ratio, flags, payload, note, raw, happened, d, t, y, small, neg, ubig, f,
             precise, code, kind, tags, vb, bn, b1, b64, t6, pos, `we``ird col`)
         VALUES (2, '2026-01-02 03:04:05', '2026-01-02 03:04:05.001', 'MULTI_CONTAINER_SERVICE', ?,
             ?, -12345678.1234, 0.1, b'10100101', ?, ?, ?, '2026-01-02 03:04:05.123456', '2026-02-28',
             '-838:59:59', 2155, -128, ?, 0, 0.1,
             -12345678901234567890123456789012345.123456789012345678901234567891, 'ab', 'it''s', 'x,z',
             X'00FF00', 'ab', b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
             '12:34:56.000001', ST_GeomFromText('POINT(1.5 -2.25)'), 'x`y')",
    )
    .bind(RESOURCE)
    .bind(TENANT)
    .bind(PAYLOAD)
    .bind(NOTE)
    .bind(RAW)
    .bind(i64::MIN)
    .execute(&mut *conn)
    .await
    .unwrap();
    // 3: empties and maximums.
    sqlx::query(
        "INSERT INTO lks_res_deploy_mutex (id, gmt_create, gmt_modified, ref_res_type, ref_resource,
             tenant, amount, ratio, flags, payload, note, raw, happened, d, t, y, small, neg, ubig, f,
             precise, code, kind, tags, vb, bn, b1, b64, t6, pos, `we``ird col`)
         VALUES (3, '9999-12-31 23:59:59', '1000-01-01 00:00:00.000', 'MULTI_CONTAINER_SERVICE',
             'app-max', '', 99999999.9999, 1.7976931348623157e308, b'0', '[]', ' trailing ', X'',
             '1970-01-01 00:00:01.000000', '1000-01-01', '838:59:59', 1901, 127, ?, ?, 3.4028234663852886e38,
             0.000000000000000000000000000001, 'ZZZZZZZZ', 'a', '', X'', X'00000000', 0, 0,
             '-00:00:00.500000', ST_GeomFromText('POINT(0 0)'), '')",
    )
    .bind(i64::MAX)
    .bind(u64::MAX)
    .execute(&mut *conn)
    .await
    .unwrap();
    // 4-6: floating point edge cases.
    exec(
        conn,
        "INSERT INTO lks_res_deploy_mutex (id, gmt_create, gmt_modified, ref_res_type, ref_resource,
             ratio, f, amount, tenant, note)
         VALUES (4, '2026-01-02 03:04:05', '2026-01-02 03:04:05.002', 'MULTI_CONTAINER_SERVICE', 'app-f1',
                 -(0.1e0 + 0.2e0), 1.1754944e-38, -0.0001, 'a', '值 it''s 😀'),
                (5, '2026-01-02 03:04:05', '2026-01-02 03:04:05.003', 'MULTI_CONTAINER_SERVICE', 'app-f2',
                 5e-324, 16777217, 0, 'A', NULL),
                (6, '2026-01-02 03:04:05', '2026-01-02 03:04:05.004', 'MULTI_CONTAINER_SERVICE', 'app-f3',
                 123456789012345678e0, -0.1234567, 0.5, 'a ', NULL)",
    )
    .await;
}

#[tokio::test]
async fn columns_reads_the_live_schema() {
    with_database(|url| async move {
        let mut conn = connect(&url).await;
        fill_mutex(&mut conn).await;
        exec(
            &mut conn,
            "CREATE TABLE LKS_RES_DEPLOY_MUTEX (other INT); \
             CREATE TABLE uniq (a INT NOT NULL, b INT NOT NULL, c INT, UNIQUE (a, b));",
        )
        .await;

        let cols = rows::columns(&mut conn, MUTEX).await.unwrap();
        assert_eq!(cols.len(), 31);
        assert_eq!(cols[0].name, "id");
        assert_eq!(cols[30].name, "we`ird col");
        let id = col(&cols, "id");
        assert_eq!(
            (id.data_type.as_str(), id.column_type.as_str()),
            ("bigint", "bigint(20) unsigned")
        );
        assert!(id.primary_key && !id.nullable && !id.on_update);
        let modified = col(&cols, "gmt_modified");
        assert_eq!(modified.data_type, "datetime");
        assert!(modified.on_update && !modified.nullable && !modified.primary_key);
        assert_eq!(col(&cols, "amount").column_type, "decimal(12,4)");
        assert!(col(&cols, "amount").nullable);
        // MariaDB's JSON is LONGTEXT with a json_valid() check.
        assert!(matches!(
            col(&cols, "payload").data_type.as_str(),
            "longtext" | "json"
        ));
        assert_eq!(cols.iter().filter(|c| c.primary_key).count(), 1);
        assert_eq!(cols.iter().filter(|c| c.on_update).count(), 1);

        // The exactly spelled table only, never its case-variant sibling.
        let upper = rows::columns(&mut conn, "LKS_RES_DEPLOY_MUTEX")
            .await
            .unwrap();
        assert_eq!(
            upper.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["other"]
        );

        // A UNIQUE NOT NULL key that the server shows as PRI is not a primary key.
        let uniq = rows::columns(&mut conn, "uniq").await.unwrap();
        assert!(uniq.iter().all(|c| !c.primary_key), "{uniq:?}");

        let err = rows::columns(&mut conn, "no_such_table").await.unwrap_err();
        assert!(
            err.to_string().contains("`no_such_table` does not exist"),
            "{err}"
        );
        conn.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn every_column_is_previewed_exactly() {
    with_database(|url| async move {
        let mut conn = connect(&url).await;
        fill_mutex(&mut conn).await;
        let cols = rows::columns(&mut conn, MUTEX).await.unwrap();
        let cells = read(&mut conn, MUTEX, &cols, "id").await;
        assert_eq!(cells.len(), 6);
        // Text protocol and binary protocol decode alike.
        assert_eq!(read_text(&mut conn, MUTEX, &cols, "id").await, cells);

        // Every column of the real table, as SELECT * sees it.
        let star = sqlx::query("SELECT * FROM lks_res_deploy_mutex ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let names: Vec<&str> = star[0].columns().iter().map(sqlx::Column::name).collect();
        let json = preview(&cols, &cells);
        for row in &json {
            let keys: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut want = names.clone();
            want.sort_unstable();
            let mut got = keys.clone();
            got.sort_unstable();
            assert_eq!(got, want);
        }
        // Independent reads of the awkward values agree byte for byte.
        let raw: Vec<u8> = star[1].try_get("raw").unwrap();
        assert_eq!(raw, RAW);
        assert_eq!(star[1].try_get::<String, _>("note").unwrap(), NOTE);
        assert_eq!(star[1].try_get::<String, _>("tenant").unwrap(), TENANT);

        let all_null = &json[0];
        for c in &cols {
            if c.nullable {
                assert_eq!(all_null[&c.name], serde_json::Value::Null, "{}", c.name);
            }
        }
        let row = &json[1];
        let expect = serde_json::json!({
            "id": 2,
            "gmt_create": "2026-01-02 03:04:05",
            "gmt_modified": "2026-01-02 03:04:05.001",
            "ref_res_type": "MULTI_CONTAINER_SERVICE",
            "ref_resource": RESOURCE,
            "tenant": TENANT,
            "amount": "-12345678.1234",
            "ratio": "0.1",
            "flags": "0xA5",
            "payload": PAYLOAD,
            "note": NOTE,
            "raw": "0x0001275C0022FF",
            "happened": "2026-01-02 03:04:05.123456",
            "d": "2026-02-28",
            "t": "-838:59:59",
            "y": "2155",
            "small": -128,
            "neg": i64::MIN,
            "ubig": 0,
            "f": "0.1",
            "precise": "-12345678901234567890123456789012345.123456789012345678901234567891",
            "code": "ab",
            "kind": "it's",
            "tags": "x,z",
            "vb": "0x00FF00",
            "bn": "0x61620000",
            "b1": "0x01",
            "b64": "0xFFFFFFFFFFFFFFFF",
            "t6": "12:34:56.000001",
            "pos": "0x000000000101000000000000000000F83F00000000000002C0",
            "we`ird col": "x`y",
        });
        assert_eq!(row, &expect);
        let row = &json[2];
        assert_eq!(row["tenant"], "");
        assert_eq!(row["ratio"], "1.7976931348623157e308");
        assert_eq!(row["f"], "3.4028234663852886e38");
        assert_eq!(row["neg"], i64::MAX);
        assert_eq!(row["ubig"], u64::MAX);
        assert_eq!(row["raw"], "0x");
        assert_eq!(row["note"], " trailing ");
        assert_eq!(row["happened"], "1970-01-01 00:00:01.000000");
        assert_eq!(row["precise"], "0.000000000000000000000000000001");
        assert_eq!(row["t6"], "-00:00:00.500000");
        assert_eq!(row["b64"], "0x0000000000000000");
        assert_eq!(json[3]["ratio"], "-0.30000000000000004");
        assert_eq!(json[3]["f"], "1.1754944e-38");
        assert_eq!(json[4]["ratio"], "5e-324");
        assert_eq!(json[4]["f"], "16777216");
        assert_eq!(json[5]["ratio"], "1.2345678901234568e17");
        assert_eq!(json[5]["f"], "-0.1234567");

        // Cells survive a JSON round trip exactly (previews store them).
        let stored = serde_json::to_string(&cells).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<Vec<Cell>>>(&stored).unwrap(),
            cells
        );
        conn.close().await.unwrap();
    })
    .await;
}

/// `(id, column, new value expression)`: one changed cell each, covering every column.
const MUTATIONS: &[(u64, &str, &str)] = &[
    (2, "id", "id + 100"),
    (2, "gmt_create", "gmt_create + INTERVAL 1 SECOND"),
    (
        2,
        "gmt_modified",
        "gmt_modified + INTERVAL 1000 MICROSECOND",
    ),
    (2, "ref_res_type", "CONCAT(ref_res_type, ' ')"),
    (
        2,
        "ref_resource",
        "CONCAT(UPPER(LEFT(ref_resource, 1)), SUBSTRING(ref_resource, 2))",
    ),
    (2, "tenant", "CONCAT(tenant, ' ')"),
    (2, "amount", "amount + 0.0001"),
    (2, "ratio", "0.10000000000000002"),
    (2, "flags", "flags ^ 1"),
    (2, "payload", "CONCAT(payload, ' ')"),
    (2, "note", "REPLACE(note, 'line1', 'Line1')"),
    (2, "raw", "CONCAT(LEFT(raw, LENGTH(raw) - 1), X'FE')"),
    (2, "happened", "happened + INTERVAL 1 MICROSECOND"),
    (2, "d", "d + INTERVAL 1 DAY"),
    (2, "t", "ADDTIME(t, '00:00:01')"),
    (2, "y", "y - 1"),
    (2, "small", "small + 1"),
    (2, "neg", "neg + 1"),
    (2, "ubig", "ubig + 1"),
    (2, "f", "0.10000001"),
    (2, "precise", "precise + 0.000000000000000000000000000001"),
    (2, "code", "UPPER(code)"),
    (2, "kind", "'b'"),
    (2, "tags", "'x,y,z'"),
    (2, "vb", "CONCAT(vb, X'00')"),
    (2, "bn", "X'61620001'"),
    (2, "b1", "b1 ^ 1"),
    (2, "b64", "b64 ^ 1"),
    (2, "t6", "ADDTIME(t6, '00:00:00.000001')"),
    (
        2,
        "pos",
        "ST_GeomFromText('POINT(1.5 -2.2500000000000004)')",
    ),
    (2, "we`ird col", "'x`Y'"),
    (1, "tenant", "''"),
    (1, "amount", "0"),
    (1, "ratio", "0"),
    (1, "flags", "0"),
    (1, "payload", "'{}'"),
    (1, "note", "''"),
    (1, "raw", "X''"),
    (1, "happened", "'2026-01-01 00:00:00'"),
    (1, "d", "'2026-01-01'"),
    (1, "t", "'00:00:00'"),
    (1, "y", "2000"),
    (1, "small", "0"),
    (1, "neg", "0"),
    (1, "ubig", "0"),
    (1, "f", "0"),
    (1, "precise", "0"),
    (1, "code", "''"),
    (1, "kind", "'a'"),
    (1, "tags", "''"),
    (1, "vb", "X''"),
    (1, "bn", "X'00000000'"),
    (1, "b1", "0"),
    (1, "b64", "0"),
    (1, "t6", "'00:00:00'"),
    (1, "pos", "ST_GeomFromText('POINT(0 0)')"),
    (1, "we`ird col", "''"),
    (3, "tenant", "NULL"),
    (3, "raw", "X'00'"),
    (3, "ratio", "1.7976931348623155e308"),
    (3, "ubig", "ubig - 1"),
    (3, "neg", "neg - 1"),
    (3, "note", "TRIM(TRAILING ' ' FROM note)"),
    (4, "ratio", "-0.3"),
    (5, "ratio", "1e-323"),
    (5, "f", "16777218"),
    (6, "tenant", "'a'"),
];

#[tokio::test]
async fn digest_changes_with_any_single_cell() {
    with_database(|url| async move {
        let mut conn = connect(&url).await;
        fill_mutex(&mut conn).await;
        let cols = rows::columns(&mut conn, MUTEX).await.unwrap();
        let before = read(&mut conn, MUTEX, &cols, "id").await;
        let baseline = rows::digest(&preview(&cols, &before));
        let baseline_sum = checksum(&mut conn, MUTEX).await;
        let restore: String = before
            .iter()
            .map(|r| rows::insert_statement(MUTEX, &cols, r) + "\n")
            .collect();

        // Every column is covered.
        for c in &cols {
            assert!(
                MUTATIONS.iter().any(|m| m.1 == c.name),
                "no mutation of {}",
                c.name
            );
        }
        let mut seen = vec![baseline.clone()];
        for (id, column, expr) in MUTATIONS {
            let id_col = rows::ident(column);
            let keep = if *column == "gmt_modified" {
                String::new()
            } else {
                ", gmt_modified = gmt_modified".to_string()
            };
            exec(
                &mut conn,
                &format!("UPDATE lks_res_deploy_mutex SET {id_col} = {expr}{keep} WHERE id = {id}"),
            )
            .await;
            // The server agrees that the data changed ...
            assert_ne!(
                checksum(&mut conn, MUTEX).await,
                baseline_sum,
                "{column} of {id}"
            );
            // ... and so does the digest.
            let after = read(&mut conn, MUTEX, &cols, "id").await;
            let digest = rows::digest(&preview(&cols, &after));
            assert!(
                !seen.contains(&digest),
                "digest did not change with {column} of row {id}: {:?}",
                preview(&cols, &after)
            );
            seen.push(digest);

            exec(
                &mut conn,
                &format!("DELETE FROM lks_res_deploy_mutex;\n{restore}"),
            )
            .await;
            assert_eq!(
                rows::digest(&preview(&cols, &read(&mut conn, MUTEX, &cols, "id").await)),
                baseline
            );
            assert_eq!(checksum(&mut conn, MUTEX).await, baseline_sum);
        }
        conn.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn insert_script_restores_deleted_rows_exactly() {
    with_database(|url| async move {
        let mut conn = connect(&url).await;
        fill_mutex(&mut conn).await;
        let cols = rows::columns(&mut conn, MUTEX).await.unwrap();
        let before = read(&mut conn, MUTEX, &cols, "id").await;
        let before_sum = checksum(&mut conn, MUTEX).await;
        let script: Vec<String> = before
            .iter()
            .map(|r| rows::insert_statement(MUTEX, &cols, r))
            .collect();
        let script = script.join("\n");
        // The awkward values did need the mode-independent forms.
        assert!(script.contains("_utf8mb4 X'"), "{script}");
        assert!(script.contains("_utf8mb4'"), "{script}");

        for mode in [None].into_iter().chain(MODES.iter().map(Some)) {
            if let Some(mode) = mode {
                exec(&mut conn, &format!("SET SESSION sql_mode = {mode}")).await;
            }
            exec(&mut conn, "DELETE FROM lks_res_deploy_mutex").await;
            assert!(read(&mut conn, MUTEX, &cols, "id").await.is_empty());
            exec(&mut conn, &script).await;
            assert_eq!(
                read(&mut conn, MUTEX, &cols, "id").await,
                before,
                "mode {mode:?}"
            );
            assert_eq!(
                checksum(&mut conn, MUTEX).await,
                before_sum,
                "mode {mode:?}"
            );
            // Reconnect for a pristine session.
            conn.close().await.unwrap();
            conn = connect(&url).await;
        }
        conn.close().await.unwrap();
    })
    .await;
}

const SERVICE: &str = "ldc_service";

const SERVICE_DDL: &str = "CREATE TABLE ldc_service (
    plan_id BIGINT NOT NULL,
    service VARCHAR(128) NOT NULL,
    state VARCHAR(32) NOT NULL,
    tenant VARCHAR(64) NULL,
    operator VARCHAR(64) NULL,
    gmt_create DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    weight FLOAT NULL,
    ratio DOUBLE NULL,
    amount DECIMAL(12,4) NULL,
    extra JSON NULL,
    note TEXT NULL,
    raw BLOB NULL,
    flags BIT(4) NULL,
    KEY (plan_id)
) DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci";

/// Rows of plan 1 that collations would confuse (case, trailing space), exact duplicates, FLOATs
/// that are not what they print as, NULLs, awkward text; plus plan 2 rows that must stay.
async fn fill_service(conn: &mut MySqlConnection) {
    exec(conn, SERVICE_DDL).await;
    exec(
        conn,
        "INSERT INTO ldc_service (plan_id, service, state, tenant, operator, gmt_create, gmt_modified,
             weight, ratio, amount, extra, note, raw, flags) VALUES
         (1, 'app', 'RUNNING', 't1', 'ops', '2020-01-01 00:00:00', '2020-01-01 00:00:00.001',
             0.1, 0.1, 1.5, '{\"k\": \"v\"}', 'n', X'00', b'1010'),
         (1, 'App', 'RUNNING', 't1', 'ops', '2020-01-01 00:00:00', '2020-01-01 00:00:00.001',
             0.1, 0.1, 1.5, '{\"k\": \"v\"}', 'n', X'00', b'1010'),
         (1, 'app ', 'INIT', 't1', 'ops', '2020-01-01 00:00:00', '2020-01-01 00:00:00.001',
             0.1, 0.1, 1.5, '{\"k\": \"v\"}', 'n', X'00', b'1010'),
         (1, 'dup', 'RUNNING', NULL, NULL, '2020-01-01 00:00:00', '2020-01-01 00:00:00.002',
             NULL, NULL, NULL, NULL, NULL, NULL, NULL),
         (1, 'dup', 'RUNNING', NULL, NULL, '2020-01-01 00:00:00', '2020-01-01 00:00:00.002',
             NULL, NULL, NULL, NULL, NULL, NULL, NULL),
         (1, 'f', 'RUNNING', '', '', '2020-01-01 00:00:00', '2020-01-01 00:00:00.003',
             0.30000001, 0.30000000000000004, -0.0001, '[]', '', X'', b'0'),
         (1, 'f', 'RUNNING', '', '', '2020-01-01 00:00:00', '2020-01-01 00:00:00.003',
             0.3, 0.30000000000000004, -0.0001, '[]', '', X'', b'0'),
         (1, 'done', 'CANCELED', 't1', 'ops', '2020-01-01 00:00:00', '2020-01-01 00:00:00.004',
             1, 1, 1, NULL, NULL, NULL, NULL),
         (2, 'app', 'RUNNING', 't1', 'ops', '2020-01-01 00:00:00', '2020-01-01 00:00:00.001',
             0.1, 0.1, 1.5, '{\"k\": \"v\"}', 'n', X'00', b'1010')",
    )
    .await;
    sqlx::query(
        "INSERT INTO ldc_service (plan_id, service, state, tenant, operator, gmt_create, gmt_modified,
             weight, ratio, amount, extra, note, raw, flags)
         VALUES (1, ?, 'RUNNING', ?, ?, '2020-01-01 00:00:00', '2020-01-01 00:00:00.005', -1e-10,
             5e-324, 99999999.9999, ?, ?, ?, b'1111')",
    )
    .bind("应用😀")
    .bind(TENANT)
    .bind("op'\\erator")
    .bind(PAYLOAD)
    .bind(NOTE)
    .bind(RAW)
    .execute(&mut *conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn update_script_restores_a_table_without_primary_key() {
    with_database(|url| async move {
        for mode in [None].into_iter().chain(MODES.iter().map(Some)) {
            let mut conn = connect(&url).await;
            exec(&mut conn, "DROP TABLE IF EXISTS ldc_service").await;
            fill_service(&mut conn).await;
            let cols = rows::columns(&mut conn, SERVICE).await.unwrap();
            assert!(cols.iter().all(|c| !c.primary_key));
            let before = read_sorted(&mut conn, SERVICE, &cols).await;
            let before_sum = checksum(&mut conn, SERVICE).await;

            // What the operation would preview, then change.
            let select = format!(
                "SELECT {} FROM ldc_service WHERE plan_id = 1 AND NOT (state <=> 'CANCELED')",
                rows::select_list(&cols)
            );
            let targets: Vec<Vec<Cell>> = sqlx::query(AssertSqlSafe(select))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| rows::decode_row(r, &cols).unwrap())
                .collect();
            assert_eq!(targets.len(), 8);
            let script: String = targets
                .iter()
                .map(|r| rows::update_statement(SERVICE, &cols, r, &["state"]) + "\n")
                .collect();

            exec(
                &mut conn,
                "UPDATE ldc_service SET state = 'CANCELED' \
                 WHERE plan_id = 1 AND NOT (state <=> 'CANCELED')",
            )
            .await;
            let changed = read_sorted(&mut conn, SERVICE, &cols).await;
            assert_ne!(changed, before);
            // The ON UPDATE column was stamped by the change.
            let stamped = changed
                .iter()
                .filter(|r| {
                    matches!(cell(&cols, r, "gmt_modified"), Cell::Text(t) if !t.starts_with("2020-"))
                })
                .count();
            assert_eq!(stamped, 8);

            if let Some(mode) = mode {
                exec(&mut conn, &format!("SET SESSION sql_mode = {mode}")).await;
            }
            exec(&mut conn, &script).await;
            assert_eq!(read_sorted(&mut conn, SERVICE, &cols).await, before, "mode {mode:?}\n{script}");
            assert_eq!(checksum(&mut conn, SERVICE).await, before_sum, "mode {mode:?}");
            conn.close().await.unwrap();
        }
    })
    .await;
}

const PLAN: &str = "ldc_plan";

const PLAN_DDL: &str = "CREATE TABLE ldc_plan (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    time_series_id VARCHAR(64) NOT NULL,
    state VARCHAR(32) NOT NULL,
    gmt_create DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    operator VARCHAR(64) NULL,
    content JSON NULL,
    memo TEXT NULL,
    budget DECIMAL(20,6) NULL,
    weight FLOAT NULL,
    raw BLOB NULL,
    started TIMESTAMP(3) NULL,
    KEY (time_series_id)
) DEFAULT CHARSET=utf8mb4";

/// A composite primary key, too.
const PLAN_SERVICE_DDL: &str = "CREATE TABLE ldc_plan_service (
    plan_id BIGINT NOT NULL,
    service VARCHAR(128) NOT NULL,
    state VARCHAR(32) NOT NULL,
    gmt_modified DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    note TEXT NULL,
    PRIMARY KEY (plan_id, service)
) DEFAULT CHARSET=utf8mb4";

#[tokio::test]
async fn update_script_restores_a_table_with_primary_key() {
    with_database(|url| async move {
        for mode in [None].into_iter().chain(MODES.iter().map(Some)) {
            let mut conn = connect(&url).await;
            exec(&mut conn, "DROP TABLE IF EXISTS ldc_plan, ldc_plan_service").await;
            exec(&mut conn, PLAN_DDL).await;
            exec(&mut conn, PLAN_SERVICE_DDL).await;
            sqlx::query(
                "INSERT INTO ldc_plan (id, time_series_id, state, gmt_create, gmt_modified, operator,
                     content, memo, budget, weight, raw, started) VALUES
                 (1, 'ts-1', 'RUNNING', '2020-01-01 00:00:00', '2020-01-01 00:00:00.123', ?, ?, ?,
                     -1234.5, 0.1, ?, '2020-01-01 00:00:00.5'),
                 (2, 'ts-1', 'INIT', '2020-01-01 00:00:00', '2020-01-01 00:00:00.124', NULL, NULL, NULL,
                     NULL, NULL, NULL, NULL),
                 (3, 'ts-1', 'CANCELED', '2020-01-01 00:00:00', '2020-01-01 00:00:00.125', '', '{}', '',
                     0, 0, X'', NULL),
                 (4, 'ts-2', 'RUNNING', '2020-01-01 00:00:00', '2020-01-01 00:00:00.126', 'ops', NULL, 'x',
                     1, 1, X'01', NULL)",
            )
            .bind(TENANT)
            .bind(PAYLOAD)
            .bind(NOTE)
            .bind(RAW)
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO ldc_plan_service (plan_id, service, state, gmt_modified, note) VALUES
                 (1, 'app', 'RUNNING', '2020-01-01 00:00:00.001', ?),
                 (1, 'App2', 'RUNNING', '2020-01-01 00:00:00.002', NULL),
                 (2, 'app', 'RUNNING', '2020-01-01 00:00:00.003', '')",
            )
            .bind(NOTE)
            .execute(&mut conn)
            .await
            .unwrap();

            let plan_cols = rows::columns(&mut conn, PLAN).await.unwrap();
            let ps_cols = rows::columns(&mut conn, "ldc_plan_service").await.unwrap();
            assert_eq!(
                ps_cols.iter().filter(|c| c.primary_key).map(|c| c.name.as_str()).collect::<Vec<_>>(),
                ["plan_id", "service"]
            );
            let plan_before = read(&mut conn, PLAN, &plan_cols, "id").await;
            let ps_before = read(&mut conn, "ldc_plan_service", &ps_cols, "plan_id, service").await;
            let sums = (
                checksum(&mut conn, PLAN).await,
                checksum(&mut conn, "ldc_plan_service").await,
            );

            let plan_sql = format!(
                "SELECT {} FROM ldc_plan WHERE time_series_id = 'ts-1' AND state <> 'CANCELED' ORDER BY id",
                rows::select_list(&plan_cols)
            );
            let plan_targets: Vec<Vec<Cell>> = sqlx::query(AssertSqlSafe(plan_sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| rows::decode_row(r, &plan_cols).unwrap())
                .collect();
            assert_eq!(plan_targets.len(), 2);
            let ps_sql = format!(
                "SELECT {} FROM ldc_plan_service WHERE plan_id = 1",
                rows::select_list(&ps_cols)
            );
            let ps_targets: Vec<Vec<Cell>> = sqlx::query(AssertSqlSafe(ps_sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| rows::decode_row(r, &ps_cols).unwrap())
                .collect();
            let mut script: Vec<String> = plan_targets
                .iter()
                .map(|r| rows::update_statement(PLAN, &plan_cols, r, &["state"]))
                .collect();
            script.extend(
                ps_targets
                    .iter()
                    .map(|r| rows::update_statement("ldc_plan_service", &ps_cols, r, &["state"])),
            );
            assert!(script[0].ends_with("WHERE `id` = 1;"), "{}", script[0]);
            assert!(
                script[2].contains("WHERE `plan_id` = 1 AND `service` = "),
                "{}",
                script[2]
            );

            exec(
                &mut conn,
                "UPDATE ldc_plan SET state = 'CANCELED' WHERE time_series_id = 'ts-1' AND state <> 'CANCELED'; \
                 UPDATE ldc_plan_service SET state = 'CANCELED' WHERE plan_id = 1;",
            )
            .await;
            let changed = read(&mut conn, PLAN, &plan_cols, "id").await;
            assert!(matches!(cell(&plan_cols, &changed[0], "gmt_modified"), Cell::Text(t) if !t.starts_with("2020-")));
            assert_eq!(cell(&plan_cols, &changed[1], "state"), &text("CANCELED"));

            if let Some(mode) = mode {
                exec(&mut conn, &format!("SET SESSION sql_mode = {mode}")).await;
            }
            exec(&mut conn, &script.join("\n")).await;
            assert_eq!(read(&mut conn, PLAN, &plan_cols, "id").await, plan_before, "mode {mode:?}");
            assert_eq!(
                read(&mut conn, "ldc_plan_service", &ps_cols, "plan_id, service").await,
                ps_before
            );
            assert_eq!(
                (
                    checksum(&mut conn, PLAN).await,
                    checksum(&mut conn, "ldc_plan_service").await
                ),
                sums,
                "mode {mode:?}"
            );
            conn.close().await.unwrap();
        }
    })
    .await;
}
