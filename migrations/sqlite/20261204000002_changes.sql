-- Change requests, their approvals, and the before-images written before a target changes.

CREATE TABLE changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    operation     TEXT    NOT NULL,
    params        TEXT    NOT NULL,
    level         TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    requester     TEXT    NOT NULL,
    requester_org TEXT    NOT NULL,
    preview       TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    emergency     INTEGER NOT NULL DEFAULT 0,
    incident      TEXT    NOT NULL DEFAULT '',
    review        TEXT    NULL,
    review_due_at INTEGER NULL,
    note          TEXT    NOT NULL DEFAULT '',
    outcome       TEXT    NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX changes_by_state ON changes(state, id);
CREATE INDEX changes_by_requester ON changes(requester, id);

CREATE TABLE change_approvals (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id INTEGER NOT NULL REFERENCES changes(id),
    approver  TEXT    NOT NULL,
    org       TEXT    NOT NULL,
    decision  TEXT    NOT NULL,
    comment   TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    UNIQUE (change_id, approver)
);

CREATE TABLE change_backups (
    change_id    INTEGER PRIMARY KEY REFERENCES changes(id),
    before_image TEXT    NOT NULL,
    undo_sql     TEXT    NOT NULL,
    written_at   INTEGER NOT NULL
);
