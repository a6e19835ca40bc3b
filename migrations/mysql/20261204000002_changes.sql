-- Change requests, their approvals, and the before-images written before a target changes.

CREATE TABLE changes (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    operation     VARCHAR(64)  NOT NULL,
    params        MEDIUMTEXT   NOT NULL,
    level         VARCHAR(4)   NOT NULL,
    state         VARCHAR(16)  NOT NULL,
    reason        TEXT         NOT NULL,
    requester     VARCHAR(191) NOT NULL,
    requester_org VARCHAR(32)  NOT NULL,
    preview       LONGTEXT     NOT NULL,
    digest        CHAR(64)     NOT NULL,
    emergency     BIGINT       NOT NULL DEFAULT 0,
    incident      VARCHAR(255) NOT NULL DEFAULT '',
    review        VARCHAR(16)  NULL,
    review_due_at BIGINT       NULL,
    note          TEXT         NOT NULL,
    outcome       LONGTEXT     NULL,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL,
    expires_at    BIGINT       NOT NULL,
    KEY changes_by_state (state, id),
    KEY changes_by_requester (requester, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE change_approvals (
    id        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    change_id BIGINT       NOT NULL,
    approver  VARCHAR(191) NOT NULL,
    org       VARCHAR(32)  NOT NULL,
    decision  VARCHAR(16)  NOT NULL,
    comment   TEXT         NOT NULL,
    digest    CHAR(64)     NOT NULL,
    at        BIGINT       NOT NULL,
    UNIQUE KEY change_approvals_once (change_id, approver),
    CONSTRAINT change_approvals_change FOREIGN KEY (change_id) REFERENCES changes(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE change_backups (
    change_id    BIGINT   NOT NULL PRIMARY KEY,
    before_image LONGTEXT NOT NULL,
    undo_sql     LONGTEXT NOT NULL,
    written_at   BIGINT   NOT NULL,
    CONSTRAINT change_backups_change FOREIGN KEY (change_id) REFERENCES changes(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
