-- Foundation: users, sessions, API tokens, login throttling, the audit chain.
-- Times are UTC milliseconds since the Unix epoch.

CREATE TABLE users (
    id                  BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name                VARCHAR(191) NOT NULL UNIQUE,
    role                VARCHAR(32)  NOT NULL,
    org                 VARCHAR(32)  NOT NULL,
    emergency           BIGINT       NOT NULL DEFAULT 0,
    password_hash       VARCHAR(255) NOT NULL,
    created_at          BIGINT       NOT NULL,
    password_changed_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    id_hash      CHAR(64)     NOT NULL PRIMARY KEY,
    user_id      BIGINT       NOT NULL,
    csrf_token   CHAR(64)     NOT NULL,
    address      VARCHAR(64)  NOT NULL,
    created_at   BIGINT       NOT NULL,
    last_seen_at BIGINT       NOT NULL,
    expires_at   BIGINT       NOT NULL,
    KEY sessions_by_user (user_id),
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE api_tokens (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id      BIGINT       NOT NULL,
    label        VARCHAR(191) NOT NULL,
    token_hash   CHAR(64)     NOT NULL UNIQUE,
    created_at   BIGINT       NOT NULL,
    last_used_at BIGINT       NULL,
    CONSTRAINT api_tokens_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE login_failures (
    id       BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(191) NOT NULL,
    address  VARCHAR(64)  NOT NULL,
    at       BIGINT       NOT NULL,
    KEY login_failures_by_user (username, at),
    KEY login_failures_by_address (address, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE audit_log (
    seq       BIGINT       NOT NULL PRIMARY KEY,
    at        BIGINT       NOT NULL,
    actor     VARCHAR(191) NOT NULL,
    action    VARCHAR(191) NOT NULL,
    subject   VARCHAR(512) NOT NULL,
    details   MEDIUMTEXT   NOT NULL,
    prev_hash CHAR(64)     NOT NULL,
    hash      CHAR(64)     NOT NULL,
    KEY audit_log_by_action (action, seq),
    KEY audit_log_by_actor (actor, seq),
    KEY audit_log_by_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row: the newest seq and hash. Appenders lock it first, which serialises appends and
-- keeps seq gapless.
CREATE TABLE audit_head (
    id   BIGINT   NOT NULL PRIMARY KEY,
    seq  BIGINT   NOT NULL,
    hash CHAR(64) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
