-- Bailiff's store, PostgreSQL dialect. Times are timestamptz (microseconds,
-- read back in UTC); JSON lists are text, NULL when empty; raw JSON documents
-- (patch, details, scan results) are bytea kept byte for byte.

-- The audit trail. The events of one cluster form a hash chain numbered by seq.
CREATE TABLE events (
    cluster            text    NOT NULL,
    seq                bigint  NOT NULL,
    id                 text    NOT NULL,
    event_time         timestamptz NOT NULL,
    source             text    NOT NULL,
    user_name          text    NOT NULL,
    user_groups        text,
    operation          text    NOT NULL,
    api_version        text    NOT NULL,
    kind               text    NOT NULL,
    namespace          text    NOT NULL,
    name               text    NOT NULL,
    uid                text    NOT NULL,
    decision           text    NOT NULL,
    dry_run            boolean NOT NULL,
    violations         text,
    patch              bytea,
    policy_set_version text    NOT NULL,
    details            bytea,
    prev_hash          text    NOT NULL,
    hash               text    NOT NULL,
    PRIMARY KEY (cluster, seq),
    UNIQUE (cluster, id)
);

CREATE INDEX events_time      ON events (event_time, cluster, seq);
CREATE INDEX events_namespace ON events (namespace, event_time);
CREATE INDEX events_kind      ON events (kind, event_time);
CREATE INDEX events_user      ON events (user_name, event_time);
CREATE INDEX events_decision  ON events (decision, event_time);

-- The policies each event names among its violations, for EventQuery.PolicyID.
CREATE TABLE event_policies (
    cluster   text    NOT NULL,
    seq       bigint  NOT NULL,
    policy_id text    NOT NULL,
    PRIMARY KEY (cluster, seq, policy_id),
    FOREIGN KEY (cluster, seq) REFERENCES events (cluster, seq) ON DELETE CASCADE
);

CREATE INDEX event_policies_policy ON event_policies (policy_id, cluster, seq);

-- The last event of each cluster's chain; appends lock this row.
CREATE TABLE chain_heads (
    cluster text    NOT NULL PRIMARY KEY,
    seq     bigint  NOT NULL,
    hash    text    NOT NULL
);

-- Every object audited, with its last evaluation, passing or not.
CREATE TABLE objects (
    cluster            text    NOT NULL,
    uid                text    NOT NULL,
    api_version        text    NOT NULL,
    kind               text    NOT NULL,
    namespace          text    NOT NULL,
    name               text    NOT NULL,
    evaluated_at       timestamptz NOT NULL,
    policy_set_version text    NOT NULL,
    violations         integer NOT NULL,
    deleted_at         timestamptz,
    PRIMARY KEY (cluster, uid)
);

CREATE INDEX objects_kind ON objects (cluster, namespace, kind);

-- Audit findings: one violation of one policy by one object, open while
-- resolved_at is NULL. key_hash is the SHA-256 of policy_id, field and message.
CREATE TABLE findings (
    id          text    NOT NULL PRIMARY KEY,
    cluster     text    NOT NULL,
    uid         text    NOT NULL,
    api_version text    NOT NULL,
    kind        text    NOT NULL,
    namespace   text    NOT NULL,
    name        text    NOT NULL,
    policy_id   text    NOT NULL,
    severity    text    NOT NULL,
    enforcement text    NOT NULL,
    message     text    NOT NULL,
    field       text    NOT NULL,
    key_hash    text    NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    resolved_at timestamptz,
    FOREIGN KEY (cluster, uid) REFERENCES objects (cluster, uid)
);

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
    digest        text    NOT NULL PRIMARY KEY,
    scanned_at    timestamptz NOT NULL,
    db_updated_at timestamptz NOT NULL,
    result        bytea
);

-- Who may call the server; only token hashes are kept.
CREATE TABLE credentials (
    name       text    NOT NULL PRIMARY KEY,
    role       text    NOT NULL,
    cluster    text    NOT NULL,
    token_hash text    NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
