-- How far the publisher has published the log to JetStream.
CREATE TABLE publisher_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
