-- Read models, written only by the projector and read by the query API.
-- Every query is scoped by workspace or board, so the same key can shard them
-- (Citus) and reads can go to replicas.
--
-- This script creates them in the first schema of the search_path: `rm` for
-- the live read models, `rm_next` while `sunday projector rebuild` builds
-- fresh ones. Names are never schema-qualified here for that reason. Bump
-- SCHEMA_VERSION in lib.rs when it changes: the projector then rebuilds.

-- Where each projection is in the log; written in the same transaction as the
-- read-model changes it stands for.
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rm_user_profiles (
    user_id     uuid        PRIMARY KEY,
    first_name  text,
    last_name   text,
    avatar      text,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE rm_workspaces (
    workspace_id uuid        PRIMARY KEY,
    name         text        NOT NULL,
    created_by   uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL
);

CREATE TABLE rm_workspace_members (
    workspace_id uuid NOT NULL,
    user_id      uuid NOT NULL,
    role         text NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX rm_workspace_members_user_idx ON rm_workspace_members (user_id);

-- Webhook subscriptions as owners and admins list them (never the secret:
-- it is in no event). Deleted ones are removed.
CREATE TABLE rm_webhooks (
    webhook_id      uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    url             text        NOT NULL,
    event_types     text[]      NOT NULL,
    board_ids       uuid[],
    active          boolean     NOT NULL,
    disabled_reason text,
    created_at      timestamptz NOT NULL,
    version         bigint      NOT NULL
);
CREATE INDEX rm_webhooks_workspace_idx ON rm_webhooks (workspace_id, created_at, webhook_id);

CREATE TABLE rm_boards (
    board_id     uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    name         text        NOT NULL,
    description  text,
    archived     boolean     NOT NULL DEFAULT false,
    created_by   uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL,
    item_count   integer     NOT NULL DEFAULT 0,
    member_count integer     NOT NULL DEFAULT 0
);
CREATE INDEX rm_boards_workspace_idx ON rm_boards (workspace_id, board_id);

CREATE TABLE rm_columns (
    board_id    uuid    NOT NULL,
    column_id   uuid    NOT NULL,
    ordinal     integer NOT NULL,
    key         text    NOT NULL,
    title       text    NOT NULL,
    type        text    NOT NULL,
    settings    jsonb   NOT NULL,
    PRIMARY KEY (board_id, column_id)
);

CREATE TABLE rm_groups (
    board_id    uuid    NOT NULL,
    group_id    uuid    NOT NULL,
    ordinal     integer NOT NULL,
    title       text    NOT NULL,
    color       text,
    PRIMARY KEY (board_id, group_id)
);

CREATE TABLE rm_board_members (
    board_id    uuid NOT NULL,
    user_id     uuid NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX rm_board_members_user_idx ON rm_board_members (user_id, board_id);

-- Items, hash-partitioned by workspace (8 partitions).
CREATE TABLE rm_items (
    workspace_id uuid        NOT NULL,
    item_id      uuid        NOT NULL,
    board_id     uuid        NOT NULL,
    group_id     uuid        NOT NULL,
    name         text        NOT NULL,
    description  text,
    item_data    jsonb       NOT NULL,
    rank         text        COLLATE "C" NOT NULL,
    assignees    uuid[]      NOT NULL DEFAULT '{}',
    created_by   uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL,
    deleted_at   timestamptz,
    PRIMARY KEY (workspace_id, item_id)
) PARTITION BY HASH (workspace_id);
CREATE TABLE rm_items_p0 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE rm_items_p1 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE rm_items_p2 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE rm_items_p3 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE rm_items_p4 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE rm_items_p5 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE rm_items_p6 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE rm_items_p7 PARTITION OF rm_items FOR VALUES WITH (MODULUS 8, REMAINDER 7);
-- A board's live items in display order (the listing and its keyset pagination).
CREATE INDEX rm_items_board_rank_idx ON rm_items (workspace_id, board_id, rank) WHERE deleted_at IS NULL;
-- The same order within one status (the most common filter).
CREATE INDEX rm_items_board_status_rank_idx ON rm_items (workspace_id, board_id, (item_data ->> 'status'), rank)
    WHERE deleted_at IS NULL;
CREATE INDEX rm_items_item_idx ON rm_items (item_id);

CREATE TABLE rm_comments (
    comment_id   uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    board_id     uuid        NOT NULL,
    item_id      uuid        NOT NULL,
    body         text        NOT NULL,
    author_id    uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    position     bigint      NOT NULL
);
CREATE INDEX rm_comments_item_idx ON rm_comments (item_id, position);

CREATE TABLE rm_files (
    file_id      uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    board_id     uuid        NOT NULL,
    item_id      uuid        NOT NULL,
    name         text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    uploaded_by  uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    position     bigint      NOT NULL
);
CREATE INDEX rm_files_board_idx ON rm_files (board_id, position DESC);
CREATE INDEX rm_files_item_idx ON rm_files (item_id, position DESC);

-- Board statistics, maintained incrementally by the projector.
CREATE TABLE rm_board_stats (
    board_id              uuid        PRIMARY KEY,
    workspace_id          uuid        NOT NULL,
    item_count            integer     NOT NULL DEFAULT 0,
    by_status             jsonb       NOT NULL DEFAULT '{}',
    by_assignee           jsonb       NOT NULL DEFAULT '{}',
    estimated_hours_total numeric     NOT NULL DEFAULT 0,
    updated_at            timestamptz NOT NULL
);

-- Activity, range-partitioned by month; the projector creates next months'
-- partitions ahead of need and drops those past the retention. The default
-- partition catches anything else.
CREATE TABLE rm_activity_log (
    id           uuid        NOT NULL,
    workspace_id uuid        NOT NULL,
    board_id     uuid,
    item_id      uuid,
    action       text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_id    uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    created_at   timestamptz NOT NULL,
    position     bigint      NOT NULL,
    details      jsonb       NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE rm_activity_log_default PARTITION OF rm_activity_log DEFAULT;
CREATE INDEX rm_activity_board_idx ON rm_activity_log (board_id, position DESC);
CREATE INDEX rm_activity_item_idx ON rm_activity_log (item_id, position DESC);

-- Adds `delta` to the counter `label` of a JSON object of counters, dropping
-- counters that reach zero (statistics' byStatus and byAssignee).
-- Not called since the statistics write binds its labels as arrays
-- (projector/src/stats.rs); dropped at the next SCHEMA_VERSION.
CREATE FUNCTION rm_bump(counters jsonb, label text, delta integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN label IS NULL OR delta = 0 THEN counters
        WHEN coalesce((counters ->> label)::integer, 0) + delta <= 0 THEN counters - label
        ELSE jsonb_set(counters, ARRAY[label], to_jsonb(coalesce((counters ->> label)::integer, 0) + delta))
    END
$$;

-- RFC 3339 UTC timestamps for API answers.
CREATE FUNCTION rm_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- A user as lists show them: id and profile (null until the user sets it).
CREATE FUNCTION rm_person_json(uid uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('userId', uid, 'firstName', p.first_name, 'lastName', p.last_name, 'avatar', p.avatar)
    FROM (SELECT 1) one LEFT JOIN rm_user_profiles p ON p.user_id = uid
$$;

-- A file's metadata as the API answers it.
CREATE FUNCTION rm_file_json(f rm_files) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', f.file_id, 'itemId', f.item_id, 'boardId', f.board_id, 'name', f.name,
        'contentType', f.content_type, 'size', f.size, 'uploadedBy', f.uploaded_by, 'createdAt', rm_ts(f.created_at))
$$;
