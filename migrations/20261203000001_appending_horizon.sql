-- The log's horizon counts only transactions that can append events.
--
-- `sunday_snapshot_xmin()` is the oldest transaction running anywhere in the
-- cluster, so a projector batch or a rebuild (which write read models, never
-- events) held every log tail back for as long as they ran. Sessions that
-- never append say so for their whole life with the application_name below
-- (set when they connect, never changed); the horizon skips their
-- transactions, and an insert into `events` from such a session fails, so a
-- transaction the horizon skipped cannot commit an event below it.
--
-- A running transaction the horizon cannot see the application_name of (a
-- backend of another role, without pg_read_all_stats) counts, as before.
--
-- Both are PL/pgSQL so that their plans are kept per session (a SQL function
-- that is not inlined is planned again at every call); STABLE, so they read
-- with the calling statement's snapshot.
CREATE FUNCTION sunday_log_horizon() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    snap pg_snapshot := pg_current_snapshot();
    oldest bigint;
BEGIN
    SELECT min(x::text::bigint) INTO oldest FROM pg_snapshot_xip(snap) AS x
    WHERE (x::text::bigint & 4294967295) NOT IN (
        SELECT a.backend_xid::text::bigint FROM pg_stat_get_activity(NULL) AS a
        WHERE a.application_name = 'sunday-never-appends' AND a.backend_xid IS NOT NULL);
    RETURN coalesce(oldest, pg_snapshot_xmax(snap)::text::bigint) + (SELECT base FROM position_base);
END
$$;

-- The horizon a log reader that has everything up to `after` needs, as a
-- position: the cluster's xmin when no committed event waits at or above it
-- (the precise horizon could then give nothing more, and it costs a look at
-- every backend's status), else `sunday_log_horizon()`.
CREATE FUNCTION sunday_log_horizon_after(after bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cluster_xmin bigint := sunday_snapshot_xmin() << 10;
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE position >= greatest(cluster_xmin, after + 1)) THEN
        RETURN sunday_log_horizon() << 10;
    END IF;
    RETURN cluster_xmin;
END
$$;

CREATE FUNCTION sunday_refuse_unannounced_append() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'sunday-never-appends' THEN
        RAISE EXCEPTION 'a session named sunday-never-appends may not append events: the log horizon skips its transactions';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_only_from_appending_sessions
    BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION sunday_refuse_unannounced_append();
