-- Events of one object, for following an object through its admissions and audits.
CREATE INDEX events_uid ON events (cluster, uid, seq);
