-- Probe history: only state changes are stored, never every sample.
CREATE TABLE probe_transitions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    component TEXT    NOT NULL,
    host      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    port      INTEGER NOT NULL,
    status    TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    error     TEXT    NULL
);
CREATE INDEX probe_transitions_by_check ON probe_transitions(component, host, kind, port, id);
CREATE INDEX probe_transitions_by_at ON probe_transitions(at);

-- Hourly aggregates per check: the only per-sample summary kept (see probes.retention_days).
CREATE TABLE probe_hourly (
    component  TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    port       INTEGER NOT NULL,
    hour       INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    successes  INTEGER NOT NULL,
    p50_ms     REAL    NULL,
    p95_ms     REAL    NULL,
    PRIMARY KEY (component, host, kind, port, hour)
);
CREATE INDEX probe_hourly_by_hour ON probe_hourly(hour);
