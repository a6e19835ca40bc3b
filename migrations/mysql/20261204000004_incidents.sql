-- Incidents from the Alertmanager webhook. One row per episode of one alert: while open it is
-- found by its fingerprint (`open_fingerprint`, unique; NULL once resolved), so a later firing
-- of the same alert opens a new incident and the resolved one keeps its history.
CREATE TABLE incidents (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    fingerprint      VARCHAR(191) NOT NULL,
    open_fingerprint VARCHAR(191) NULL,
    alertname        TEXT         NOT NULL,
    component        VARCHAR(191) NOT NULL,
    runbook          TEXT         NULL,
    state            VARCHAR(16)  NOT NULL,
    labels           MEDIUMTEXT   NOT NULL,
    annotations      MEDIUMTEXT   NOT NULL,
    generator_url    TEXT         NOT NULL,
    started_at       BIGINT       NOT NULL,
    ended_at         BIGINT       NULL,
    first_seen_at    BIGINT       NOT NULL,
    last_seen_at     BIGINT       NOT NULL,
    UNIQUE KEY incidents_open (open_fingerprint),
    KEY incidents_by_fingerprint (fingerprint, id),
    KEY incidents_by_state (state, started_at),
    KEY incidents_by_component (component, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every alert of every notification received, against the incident it opened, updated or
-- resolved (`outcome` = opened / updated / resolved / stale).
CREATE TABLE incident_events (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    incident_id BIGINT       NOT NULL,
    fingerprint VARCHAR(191) NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    outcome     VARCHAR(16)  NOT NULL,
    receiver    TEXT         NOT NULL,
    group_key   MEDIUMTEXT   NOT NULL,
    labels      MEDIUMTEXT   NOT NULL,
    annotations MEDIUMTEXT   NOT NULL,
    starts_at   BIGINT       NOT NULL,
    ends_at     BIGINT       NULL,
    received_at BIGINT       NOT NULL,
    KEY incident_events_by_incident (incident_id, id),
    KEY incident_events_by_received_at (received_at),
    CONSTRAINT incident_events_incident FOREIGN KEY (incident_id) REFERENCES incidents(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
