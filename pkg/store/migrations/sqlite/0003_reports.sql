-- Compliance reports, kept as generated and signed: a history per cluster (and for the
-- fleet, cluster ''), for trends. summary is the report's per-framework scores (JSON);
-- body the signed report JSON, gzip-compressed.
CREATE TABLE reports (
    id           TEXT    NOT NULL PRIMARY KEY,
    cluster      TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    frameworks   TEXT    NOT NULL,
    generated_at INTEGER NOT NULL,
    period_from  INTEGER,
    period_to    INTEGER NOT NULL,
    trail_ok     INTEGER NOT NULL,
    summary      BLOB    NOT NULL,
    body_size    INTEGER NOT NULL,
    body         BLOB    NOT NULL
) STRICT;

CREATE INDEX reports_cluster ON reports (cluster, generated_at, id);
CREATE INDEX reports_time    ON reports (generated_at, id);
