-- Bailiff's store, SQLite dialect. Times are INTEGER microseconds since the
-- Unix epoch (UTC); JSON lists are TEXT, NULL when empty; raw JSON documents
-- (patch, details, scan results) are BLOBs kept byte for byte.

-- The audit trail. The events of one cluster form a hash chain numbered by seq.
CREATE TABLE events (
    cluster            TEXT    NOT NULL,
    seq                INTEGER NOT NULL,
    id                 TEXT    NOT NULL,
    event_time         INTEGER NOT NULL,
    source             TEXT    NOT NULL,
    user_name          TEXT    NOT NULL,
    user_groups        TEXT,
    operation          TEXT    NOT NULL,
    api_version        TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    namespace          TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    uid                TEXT    NOT NULL,
    decision           TEXT    NOT NULL,
    dry_run            INTEGER NOT NULL,
    violations         TEXT,
    patch              BLOB,
    policy_set_version TEXT    NOT NULL,
    details            BLOB,
    prev_hash          TEXT    NOT NULL,
    hash               TEXT    NOT NULL,
    PRIMARY KEY (cluster, seq),
    UNIQUE (cluster, id)
) STRICT;

CREATE INDEX events_time      ON events (event_time, cluster, seq);
CREATE INDEX events_namespace ON events (namespace, event_time);
CREATE INDEX events_kind      ON events (kind, event_time);
CREATE INDEX events_user      ON events (user_name, event_time);
CREATE INDEX events_decision  ON events (decision, event_time);

-- The policies each event names among its violations, for EventQuery.PolicyID.
CREATE TABLE event_policies (
    cluster   TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    policy_id TEXT    NOT NULL,
    PRIMARY KEY (cluster, seq, policy_id),
    FOREIGN KEY (cluster, seq) REFERENCES events (cluster, seq) ON DELETE CASCADE
) STRICT;

CREATE INDEX event_policies_policy ON event_policies (policy_id, cluster, seq);

-- The last event of each cluster's chain; appends lock this row.
CREATE TABLE chain_heads (
    cluster TEXT    NOT NULL PRIMARY KEY,
    seq     INTEGER NOT NULL,
    hash    TEXT    NOT NULL
) STRICT;

-- Every object audited, with its last evaluation, passing or not.
CREATE TABLE objects (
    cluster            TEXT    NOT NULL,
    uid                TEXT    NOT NULL,
    api_version        TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    namespace          TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    evaluated_at       INTEGER NOT NULL,
    policy_set_version TEXT    NOT NULL,
    violations         INTEGER NOT NULL,
    deleted_at         INTEGER,
    PRIMARY KEY (cluster, uid)
) STRICT;

CREATE INDEX objects_kind ON objects (cluster, namespace, kind);

-- Audit findings: one violation of one policy by one object, open while
-- resolved_at is NULL. key_hash is the SHA-256 of policy_id, field and message.
CREATE TABLE findings (
    id          TEXT    NOT NULL PRIMARY KEY,
    cluster     TEXT    NOT NULL,
    uid         TEXT    NOT NULL,
    api_version TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    policy_id   TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    enforcement TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    key_hash    TEXT    NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    resolved_at INTEGER,
    FOREIGN KEY (cluster, uid) REFERENCES objects (cluster, uid)
) STRICT;

CREATE UNIQUE INDEX findings_open_key ON findings (cluster, uid, key_hash) WHERE resolved_at IS NULL;
CREATE INDEX findings_first_seen ON findings (first_seen, id);
CREATE INDEX findings_open       ON findings (first_seen, id) WHERE resolved_at IS NULL;
CREATE INDEX findings_cluster    ON findings (cluster, first_seen);
CREATE INDEX findings_namespace  ON findings (namespace, first_seen);
CREATE INDEX findings_kind       ON findings (kind, first_seen);
CREATE INDEX findings_policy     ON findings (policy_id, first_seen);
CREATE INDEX findings_severity   ON findings (severity, first_seen);

-- Image scan results by digest.
CREATE TABLE scans (
    digest        TEXT    NOT NULL PRIMARY KEY,
    scanned_at    INTEGER NOT NULL,
    db_updated_at INTEGER NOT NULL,
    result        BLOB
) STRICT;

-- Who may call the server; only token hashes are kept.
CREATE TABLE credentials (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    cluster    TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
