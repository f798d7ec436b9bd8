-- The log's horizon counts only transactions that can append events.
--
-- `sunday_snapshot_xmin()` is the oldest transaction running anywhere in the
-- cluster, so a projector batch or a rebuild batch (which write read models,
-- never events) held every log tail back for as long as it ran. Such a
-- transaction now announces, right after it takes its id, that it will never
-- append: another connection records its id here (unlogged: nothing to keep
-- across a crash, which ends every transaction anyway, and no WAL flush to
-- wait for). The horizon skips announced transactions, and an insert into
-- `events` from one fails, so a transaction the horizon skipped cannot commit
-- an event below it. Every transaction that did not announce counts, as
-- before. Rows of transactions that have ended are removed by the next
-- announcement.
CREATE UNLOGGED TABLE sunday_non_appending (
    xid xid8 PRIMARY KEY
);

-- The oldest running transaction that may append, shifted by the position
-- base (the id of the next one when none runs). PL/pgSQL so that its plan is
-- kept per session (a SQL function that is not inlined is planned at every
-- call); STABLE, so it reads with the calling statement's snapshot: an
-- announcement counts only if it committed before that snapshot was taken.
--
-- A transaction of another database in the cluster cannot append to this
-- log either, but telling one apart takes a scan of every backend's status
-- (`pg_stat_get_activity`: tens of microseconds with a dozen backends, more
-- with many), too dear for every read. With `this_database_only`, a reader
-- that is already waiting on the horizon asks for it: the transactions it
-- skips are those a backend connected elsewhere holds as its own (a
-- transaction that ended meanwhile, or a prepared one, is still counted, so
-- nothing of this database is ever skipped). Without it a shared cluster's
-- long transactions hold the log back only until a reader asks.
CREATE FUNCTION sunday_log_horizon(this_database_only boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    snap pg_snapshot := pg_current_snapshot();
    elsewhere bigint[] := '{}';
    oldest bigint;
BEGIN
    IF this_database_only THEN
        SELECT coalesce(array_agg(a.backend_xid::text::bigint), '{}') INTO elsewhere
        FROM pg_stat_get_activity(NULL) AS a
        WHERE a.backend_xid IS NOT NULL
          AND a.datid <> (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
    END IF;
    -- `backend_xid` is the 32-bit id: running ids are less than 2^31 apart,
    -- so its low bits name one running transaction.
    SELECT min(x::text::bigint) INTO oldest FROM pg_snapshot_xip(snap) AS x
    WHERE NOT EXISTS (SELECT 1 FROM sunday_non_appending n WHERE n.xid = x)
      AND NOT (x::text::bigint % 4294967296) = ANY (elsewhere);
    RETURN coalesce(oldest, pg_snapshot_xmax(snap)::text::bigint) + (SELECT base FROM position_base);
END
$$;

-- The check must not give the transaction its id: an append takes its id
-- only once it holds its stream's head (see `APPEND`), and this trigger runs
-- before that. A transaction without an id cannot have been announced.
CREATE FUNCTION sunday_refuse_announced_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mine xid8 := pg_current_xact_id_if_assigned();
BEGIN
    IF mine IS NOT NULL AND EXISTS (SELECT 1 FROM sunday_non_appending WHERE xid = mine) THEN
        RAISE EXCEPTION 'transaction % announced that it never appends: the log horizon skips it', mine;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_not_from_announced_transactions
    BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION sunday_refuse_announced_append();
