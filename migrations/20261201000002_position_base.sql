-- Positions are ((transaction id + base) << 10) + index. Transaction ids
-- start low again in a cluster a dump was restored into (or a logical copy
-- was made in): `base` is raised at start (`PgEventStore::keep_positions_growing`)
-- so that every new position is above the log's highest, and readers whose
-- checkpoints came with the dump miss nothing. Zero until that happens.
CREATE TABLE position_base (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    base     bigint  NOT NULL
);
INSERT INTO position_base (base) VALUES (0);

-- The transaction ids positions are made of: the current one, and the
-- oldest still running (the horizon), both shifted by `base`.
CREATE FUNCTION sunday_xact_id() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT pg_current_xact_id()::text::bigint + (SELECT base FROM position_base)
$$;

CREATE FUNCTION sunday_snapshot_xmin() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + (SELECT base FROM position_base)
$$;
