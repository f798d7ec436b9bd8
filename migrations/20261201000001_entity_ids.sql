-- Ids of the sub-entities events create (columns, groups, comments, files),
-- unique across the whole store like stream ids: written in the same
-- statement as the append that creates them, so an id reused on another
-- board or item is refused (409) instead of being acknowledged and then
-- lost by a read model keyed on it.
CREATE TABLE entity_ids (
    entity_id   uuid PRIMARY KEY,
    stream_id   text NOT NULL
);

-- Backfill from the log written before this table existed.
INSERT INTO entity_ids (entity_id, stream_id)
SELECT DISTINCT ON (id) id, stream_id FROM (
    SELECT (data ->> 'commentId')::uuid AS id, stream_id, position FROM events WHERE event_type = 'CommentAdded'
    UNION ALL SELECT (data ->> 'fileId')::uuid, stream_id, position FROM events WHERE event_type = 'FileAttached'
    UNION ALL SELECT (data -> 'column' ->> 'id')::uuid, stream_id, position FROM events WHERE event_type = 'ColumnAdded'
    UNION ALL SELECT (data -> 'group' ->> 'id')::uuid, stream_id, position FROM events WHERE event_type = 'GroupAdded'
    UNION ALL SELECT (c ->> 'id')::uuid, stream_id, position FROM events, jsonb_array_elements(data -> 'columns') c
        WHERE event_type = 'BoardCreated'
    UNION ALL SELECT (g ->> 'id')::uuid, stream_id, position FROM events, jsonb_array_elements(data -> 'groups') g
        WHERE event_type = 'BoardCreated'
) claimed
ORDER BY id, position;
