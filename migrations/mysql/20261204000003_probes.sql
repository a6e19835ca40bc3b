-- Probe history: only state changes are stored, never every sample.
CREATE TABLE probe_transitions (
    id        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    component VARCHAR(64)  NOT NULL,
    host      VARCHAR(191) NOT NULL,
    kind      VARCHAR(8)   NOT NULL,
    port      BIGINT       NOT NULL,
    status    VARCHAR(16)  NOT NULL,
    at        BIGINT       NOT NULL,
    error     TEXT         NULL,
    KEY probe_transitions_by_check (component, host, kind, port, id),
    KEY probe_transitions_by_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Hourly aggregates per check: the only per-sample summary kept (see probes.retention_days).
CREATE TABLE probe_hourly (
    component  VARCHAR(64)  NOT NULL,
    host       VARCHAR(191) NOT NULL,
    kind       VARCHAR(8)   NOT NULL,
    port       BIGINT       NOT NULL,
    hour       BIGINT       NOT NULL,
    samples    BIGINT       NOT NULL,
    successes  BIGINT       NOT NULL,
    p50_ms     DOUBLE       NULL,
    p95_ms     DOUBLE       NULL,
    PRIMARY KEY (component, host, kind, port, hour),
    KEY probe_hourly_by_hour (hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
