-- Conversations, their messages (a tree: each message names its parent) and the agent's steps
-- for each reply. Written in the SQL that SQLite and PostgreSQL share, so that one code path
-- serves both. Times are milliseconds since the Unix epoch; JSON is stored as text.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    model TEXT NOT NULL,
    head TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX conversations_by_owner ON conversations (owner, updated_ms);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id TEXT,
    author TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    -- For a reply: the messages its run added to what the model saw (JSON array), so that a
    -- branch's context is the concatenation of its replies' transcripts.
    transcript TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_ms);

CREATE TABLE steps (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (message_id, seq)
);
