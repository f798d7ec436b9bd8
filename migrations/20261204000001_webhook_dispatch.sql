-- The webhook dispatcher's own tables (`webhooks/src/store.rs` writes them;
-- nothing else does).
--
-- The dispatcher reads the log once, in order (`webhook_scan`), and for each
-- event and each webhook it matches moves the head of that webhook's lane
-- for the event's board (`webhook_lanes`; the workspace's own events are the
-- lane of the nil board). Senders then take a lane's events from the log,
-- from just after `delivered` up to `head`, one at a time and in order, and
-- move `delivered` in the same transaction as the attempt's record
-- (`webhook_attempts`). A crash re-sends at most what was in flight.

-- Every event at or below `position` has been scanned into the lanes.
CREATE TABLE webhook_scan (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint  NOT NULL
);
INSERT INTO webhook_scan (position) VALUES (0);

-- The webhooks as the scan has folded their streams (so far as `position`).
CREATE TABLE webhook_subscriptions (
    webhook_id     uuid    PRIMARY KEY,
    workspace_id   uuid    NOT NULL,
    url            text    NOT NULL,
    event_types    text[]  NOT NULL,
    board_ids      uuid[],
    active         boolean NOT NULL,
    secret_version bigint  NOT NULL,
    version        bigint  NOT NULL
);

CREATE TABLE webhook_lanes (
    webhook_id      uuid        NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    -- The nil UUID for the workspace's own events.
    board_id        uuid        NOT NULL,
    -- Every matching event of the lane at or below it has been delivered.
    delivered       bigint      NOT NULL,
    -- The last matching event the scan put in the lane.
    head            bigint      NOT NULL,
    -- Failed attempts at the event after `delivered`, since when, and when next.
    failures        integer     NOT NULL DEFAULT 0,
    failing_since   timestamptz,
    next_attempt_at timestamptz,
    PRIMARY KEY (webhook_id, board_id),
    CHECK (delivered <= head)
);
CREATE INDEX webhook_lanes_pending_idx ON webhook_lanes (next_attempt_at NULLS FIRST) WHERE delivered < head;

-- Every attempt, for `GET /v1/webhooks/{id}/deliveries` (newest first).
CREATE TABLE webhook_attempts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    position        bigint      NOT NULL,
    event_type      text        NOT NULL,
    attempt         integer     NOT NULL,
    -- The endpoint's HTTP status, when it answered.
    status          smallint,
    error           text,
    duration_ms     integer     NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, id DESC);
CREATE INDEX webhook_attempts_at_idx ON webhook_attempts (at);

-- A lane of a workspace's own events is read by workspace; only events
-- without a board are indexed (few: workspaces, webhooks, profiles).
CREATE INDEX events_workspace_own_idx ON events (workspace_id, position) WHERE board_id IS NULL;

-- `POST /v1/webhooks/{id}/replay`: the matching events with
-- `from_position <= position <= to_position` are sent again, in log order,
-- with their own `webhook-id`; `next_position` is how far it got. Asked by
-- the command API (`sunday_webhooks::request_replay`), perhaps before the
-- scan has reached the webhook: replays of webhooks it does not know wait.
CREATE TABLE webhook_replays (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      uuid        NOT NULL,
    next_position   bigint      NOT NULL,
    to_position     bigint      NOT NULL,
    failures        integer     NOT NULL DEFAULT 0,
    failing_since   timestamptz,
    next_attempt_at timestamptz,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    -- `<user>:<Idempotency-Key>` of the request that asked for it, if any: a
    -- retry of that request (its answer replayed) asks again, so a replay
    -- whose row was not written before a crash is written then, and one
    -- that was is not written twice.
    request         text        UNIQUE
);
CREATE INDEX webhook_replays_webhook_idx ON webhook_replays (webhook_id);
