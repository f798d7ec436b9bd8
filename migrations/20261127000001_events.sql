-- The event log. `position` is the global log position:
--   (top-level transaction id << 10) + index of the event within its append.
-- Transaction ids grow with the log, so position order is commit-safe log order:
-- a reader that stops below (pg_snapshot_xmin(pg_current_snapshot()) << 10) never
-- skips an event that commits later with a lower position. See ARCHITECTURE.md.
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_type      text        NOT NULL,
    schema_version  smallint    NOT NULL,
    occurred_at     timestamptz NOT NULL,
    workspace_id    uuid,
    board_id        uuid,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

-- One board read back: its own stream and its items' streams.
CREATE INDEX events_board_position_idx ON events (board_id, position) WHERE board_id IS NOT NULL;

-- Idempotency keys, written in the same transaction as the append they answer.
CREATE TABLE idempotency_keys (
    user_id       uuid        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status        smallint    NOT NULL,
    aggregate_id  uuid        NOT NULL,
    entity_id     uuid,
    version       bigint      NOT NULL,
    position      bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
