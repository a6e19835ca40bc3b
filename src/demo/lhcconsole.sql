-- A realistic lhcconsole schema for the sandbox and the tests: the guide's tables with the
-- extra columns a real product has. The console assumes only the columns the guide names.

CREATE TABLE lks_res_deploy_mutex (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    gmt_create    DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    tenant_id     VARCHAR(64)     NOT NULL DEFAULT '',
    workspace_id  VARCHAR(64)     NULL,
    ref_res_type  VARCHAR(64)     NOT NULL,
    ref_resource  VARCHAR(255)    NOT NULL,
    deploy_id     VARCHAR(128)    NULL,
    operator      VARCHAR(64)     NULL,
    lock_version  INT             NOT NULL DEFAULT 0,
    lease_seconds DECIMAL(10,3)   NULL,
    ext_info      JSON            NULL,
    memo          TEXT            NULL,
    PRIMARY KEY (id),
    KEY idx_ref (ref_res_type, ref_resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE ldc_plan (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    gmt_create     DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified   DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    time_series_id VARCHAR(128)    NOT NULL,
    tenant_id      VARCHAR(64)     NOT NULL DEFAULT '',
    app_name       VARCHAR(128)    NULL,
    title          VARCHAR(255)    NULL,
    state          VARCHAR(32)     NOT NULL,
    creator        VARCHAR(64)     NULL,
    progress       DECIMAL(5,2)    NULL,
    ext_info       JSON            NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_time_series_id (time_series_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- No primary key, as in some deployments: undo falls back to matching the unchanged columns.
CREATE TABLE ldc_service (
    gmt_create   DATETIME        NOT NULL DEFAULT CURRENT_TIMESTAMP,
    gmt_modified DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    plan_id      BIGINT UNSIGNED NOT NULL,
    service_name VARCHAR(255)    NOT NULL,
    cell         VARCHAR(64)     NULL,
    state        VARCHAR(32)     NULL,
    batch_no     INT             NULL,
    detail       MEDIUMTEXT      NULL,
    raw_config   BLOB            NULL,
    KEY idx_plan (plan_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
