-- The head of every stream: its version, in one row an append locks
-- exclusively and a decision guarded by that stream locks shared, so a guard's
-- check and the guarded stream's appends take turns instead of passing each
-- other unseen (see `APPEND` in eventstore/src/append.rs). Versions are still
-- those of `events`; this row only says the latest and carries the lock.
-- Updated in place on every append: room on the page keeps those updates HOT.
CREATE TABLE stream_heads (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL
) WITH (fillfactor = 50);

INSERT INTO stream_heads (stream_id, version)
SELECT stream_id, max(stream_version) FROM events GROUP BY stream_id;
