-- Incidents from the Alertmanager webhook. One row per episode of one alert: while open it is
-- found by its fingerprint (`open_fingerprint`, unique; NULL once resolved), so a later firing
-- of the same alert opens a new incident and the resolved one keeps its history.
CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint      TEXT    NOT NULL,
    open_fingerprint TEXT    NULL UNIQUE,
    alertname        TEXT    NOT NULL,
    component        TEXT    NOT NULL,
    runbook          TEXT    NULL,
    state            TEXT    NOT NULL,
    labels           TEXT    NOT NULL,
    annotations      TEXT    NOT NULL,
    generator_url    TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER NULL,
    first_seen_at    INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL
);
CREATE INDEX incidents_by_fingerprint ON incidents(fingerprint, id);
CREATE INDEX incidents_by_state ON incidents(state, started_at);
CREATE INDEX incidents_by_component ON incidents(component, state);

-- Every alert of every notification received, against the incident it opened, updated or
-- resolved (`outcome` = opened / updated / resolved / stale).
CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    fingerprint TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    receiver    TEXT    NOT NULL,
    group_key   TEXT    NOT NULL,
    labels      TEXT    NOT NULL,
    annotations TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, id);
CREATE INDEX incident_events_by_received_at ON incident_events(received_at);
