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
