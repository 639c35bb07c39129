-- Compliance reports, kept as generated and signed: a history per cluster (and for the
-- fleet, cluster ''), for trends. summary is the report's per-framework scores (JSON);
-- body the signed report JSON, gzip-compressed.
CREATE TABLE reports (
    id           text        NOT NULL PRIMARY KEY,
    cluster      text        NOT NULL,
    scope        text        NOT NULL,
    frameworks   text        NOT NULL,
    generated_at timestamptz NOT NULL,
    period_from  timestamptz,
    period_to    timestamptz NOT NULL,
    trail_ok     boolean     NOT NULL,
    summary      bytea       NOT NULL,
    body_size    bigint      NOT NULL,
    body         bytea       NOT NULL
);

CREATE INDEX reports_cluster ON reports (cluster, generated_at, id);
CREATE INDEX reports_time    ON reports (generated_at, id);
