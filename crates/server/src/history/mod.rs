//! Stored conversations: SQLite by default (a file under the user's data directory, WAL), or
//! PostgreSQL when a `postgres://` URL is configured. One code path serves both through sqlx's
//! `Any` driver; the SQL is the dialect the two share, with `$N` parameters (which SQLite reads
//! as numbered ones). The schema is versioned migrations (`migrations/`), applied on open.
//!
//! Every step of a reply is written before it is sent to the client, so what a user was shown
//! survives the server being killed; replies that were running then are marked `interrupted`
//! when the store is next opened.

mod branch;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use codeact_protocol::history::{Author, ConversationSummary, MessageStatus, StoredMessage};
use codeact_protocol::{AgentEvent, Message};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

pub use branch::{branch, descend};

/// Failures of the store. Messages name what failed; the database's own text follows.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("history database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("history database {0}: {1}")]
    Open(String, String),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
}

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "history",
    include_str!("../../migrations/0001_history.sql"),
)];

/// A conversation's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub summary: ConversationSummary,
    pub owner: String,
    pub head: Option<String>,
}

/// A message with what only the server needs: its run's transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub message: StoredMessage,
    pub transcript: Vec<Message>,
}

/// The conversation store. Cloning shares the pool.
#[derive(Clone)]
pub struct History {
    pool: AnyPool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `<data dir>/codeact/history.sqlite3` (e.g. `~/.local/share/codeact/history.sqlite3`).
pub fn default_path() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("codeact")
        .join("history.sqlite3")
}

impl History {
    /// The store a setting names (`[server] history`, `--history`, `$CODEACT_HISTORY`): a
    /// `postgres://` or `sqlite://` URL, else a SQLite file path, else (`None`) the
    /// [`default_path`] file.
    pub async fn open_setting(setting: Option<&str>) -> Result<Self, HistoryError> {
        match setting {
            Some(url) if url.contains("://") => Self::open(url).await,
            Some(path) => Self::open_sqlite(Path::new(path)).await,
            None => Self::open_sqlite(&default_path()).await,
        }
    }

    /// Opens (creating it if needed) the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| HistoryError::Open(dir.display().to_string(), e.to_string()))?;
        }
        Self::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens a `sqlite://PATH?mode=rwc` or `postgres://…` URL and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, HistoryError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            // An unreachable database is reported at start-up, not after sqlx's 30 s default.
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers go on while a reply is written; NORMAL syncing keeps
                        // every committed step through a crash of this process.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| HistoryError::Open(redact(url), e.to_string()))?;
        let migrator = Migrator {
            migrations: Cow::Owned(
                MIGRATIONS
                    .iter()
                    .map(|(version, name, sql)| {
                        Migration::new(
                            *version,
                            Cow::Borrowed(*name),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        migrator.run(&pool).await?;
        let store = Self { pool };
        store.mark_interrupted().await?;
        Ok(store)
    }

    /// Replies that were running when the server stopped are `interrupted`.
    async fn mark_interrupted(&self) -> Result<(), HistoryError> {
        sqlx::query("UPDATE messages SET status = $1 WHERE status = $2")
            .bind(status_str(MessageStatus::Interrupted))
            .bind(status_str(MessageStatus::Running))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create(
        &self,
        owner: &str,
        title: &str,
        model: &str,
    ) -> Result<ConversationSummary, HistoryError> {
        let now = now_ms();
        let summary = ConversationSummary {
            id: uuid::Uuid::new_v4().to_string(),
            title: title.to_string(),
            model: model.to_string(),
            created_ms: now,
            updated_ms: now,
        };
        sqlx::query(
            "INSERT INTO conversations (id, owner, title, model, head, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6)",
        )
        .bind(&summary.id)
        .bind(owner)
        .bind(&summary.title)
        .bind(&summary.model)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(summary)
    }

    /// `owner`'s conversations, most recently updated first; with `query`, only those whose
    /// title or any message contains it (case-insensitive).
    pub async fn list(
        &self,
        owner: &str,
        query: Option<&str>,
    ) -> Result<Vec<ConversationSummary>, HistoryError> {
        let pattern = query.map(|q| format!("%{}%", like_escape(&q.to_lowercase())));
        let rows = sqlx::query(
            "SELECT id, owner, title, model, head, created_ms, updated_ms FROM conversations c \
             WHERE owner = $1 AND ($2 IS NULL OR lower(title) LIKE $2 ESCAPE '\\' OR EXISTS \
             (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
              AND lower(m.content) LIKE $2 ESCAPE '\\')) \
             ORDER BY updated_ms DESC, id",
        )
        .bind(owner)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| conversation_row(r).map(|c| c.summary))
            .collect()
    }

    /// Conversation `id` if `owner` owns it.
    pub async fn get(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Option<ConversationRow>, HistoryError> {
        let row = sqlx::query(
            "SELECT id, owner, title, model, head, created_ms, updated_ms FROM conversations \
             WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(conversation_row).transpose()
    }

    pub async fn rename(&self, id: &str, title: &str) -> Result<(), HistoryError> {
        self.update(id, "title", title).await
    }

    pub async fn set_head(&self, id: &str, head: &str) -> Result<(), HistoryError> {
        self.update(id, "head", head).await
    }

    /// Sets one text column of conversation `id` (a name written in this file, never taken
    /// from a request) and its update time.
    async fn update(
        &self,
        id: &str,
        column: &'static str,
        value: &str,
    ) -> Result<(), HistoryError> {
        sqlx::query(&format!(
            "UPDATE conversations SET {column} = $1, updated_ms = $2 WHERE id = $3"
        ))
        .bind(value)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the conversation with its messages and steps.
    pub async fn delete(&self, id: &str) -> Result<(), HistoryError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM steps WHERE message_id IN \
             (SELECT id FROM messages WHERE conversation_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM messages WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM conversations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a message after `parent` and makes it the conversation's head.
    pub async fn add_message(
        &self,
        conversation: &str,
        parent: Option<&str>,
        author: Author,
        content: &str,
        status: MessageStatus,
    ) -> Result<StoredMessage, HistoryError> {
        let message = StoredMessage {
            id: uuid::Uuid::new_v4().to_string(),
            parent_id: parent.map(str::to_string),
            author,
            content: content.to_string(),
            status,
            created_ms: now_ms(),
            steps: Vec::new(),
            siblings: Vec::new(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, parent_id, author, content, status, \
             transcript, created_ms) VALUES ($1, $2, $3, $4, $5, $6, '[]', $7)",
        )
        .bind(&message.id)
        .bind(conversation)
        .bind(message.parent_id.clone())
        .bind(author_str(author))
        .bind(content)
        .bind(status_str(status))
        .bind(message.created_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE conversations SET head = $1, updated_ms = $2 WHERE id = $3")
            .bind(&message.id)
            .bind(message.created_ms)
            .bind(conversation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Appends step `seq` of a reply (committed when this returns).
    pub async fn add_step(
        &self,
        message: &str,
        seq: i64,
        event: &AgentEvent,
    ) -> Result<(), HistoryError> {
        sqlx::query("INSERT INTO steps (message_id, seq, event) VALUES ($1, $2, $3)")
            .bind(message)
            .bind(seq)
            .bind(serde_json::to_string(event)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a reply: its text, status and the transcript its run added.
    pub async fn finish_message(
        &self,
        message: &str,
        content: &str,
        status: MessageStatus,
        transcript: &[Message],
    ) -> Result<(), HistoryError> {
        sqlx::query("UPDATE messages SET content = $1, status = $2, transcript = $3 WHERE id = $4")
            .bind(content)
            .bind(status_str(status))
            .bind(serde_json::to_string(transcript)?)
            .bind(message)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every message of a conversation with its steps, oldest first.
    pub async fn messages(&self, conversation: &str) -> Result<Vec<MessageRow>, HistoryError> {
        let rows = sqlx::query(
            "SELECT id, parent_id, author, content, status, transcript, created_ms \
             FROM messages WHERE conversation_id = $1 ORDER BY created_ms, id",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        let steps = sqlx::query(
            "SELECT s.message_id, s.event FROM steps s JOIN messages m ON m.id = s.message_id \
             WHERE m.conversation_id = $1 ORDER BY s.message_id, s.seq",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        let mut by_message: std::collections::HashMap<String, Vec<AgentEvent>> =
            std::collections::HashMap::new();
        for s in &steps {
            let id: String = s.try_get("message_id")?;
            let event: String = s.try_get("event")?;
            by_message
                .entry(id)
                .or_default()
                .push(serde_json::from_str(&event)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            let transcript: String = r.try_get("transcript")?;
            out.push(MessageRow {
                message: StoredMessage {
                    steps: by_message.remove(&id).unwrap_or_default(),
                    id,
                    parent_id: r.try_get("parent_id")?,
                    author: parse_author(&r.try_get::<String, _>("author")?),
                    content: r.try_get("content")?,
                    status: parse_status(&r.try_get::<String, _>("status")?),
                    created_ms: r.try_get("created_ms")?,
                    siblings: Vec::new(),
                },
                transcript: serde_json::from_str(&transcript)?,
            });
        }
        Ok(out)
    }
}

fn conversation_row(r: &AnyRow) -> Result<ConversationRow, HistoryError> {
    Ok(ConversationRow {
        summary: ConversationSummary {
            id: r.try_get("id")?,
            title: r.try_get("title")?,
            model: r.try_get("model")?,
            created_ms: r.try_get("created_ms")?,
            updated_ms: r.try_get("updated_ms")?,
        },
        owner: r.try_get("owner")?,
        head: r.try_get("head")?,
    })
}

fn author_str(a: Author) -> &'static str {
    match a {
        Author::User => "user",
        Author::Assistant => "assistant",
    }
}

fn parse_author(s: &str) -> Author {
    if s == "user" {
        Author::User
    } else {
        Author::Assistant
    }
}

fn status_str(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Running => "running",
        MessageStatus::Done => "done",
        MessageStatus::Stopped => "stopped",
        MessageStatus::Interrupted => "interrupted",
    }
}

fn parse_status(s: &str) -> MessageStatus {
    match s {
        "running" => MessageStatus::Running,
        "stopped" => MessageStatus::Stopped,
        "interrupted" => MessageStatus::Interrupted,
        _ => MessageStatus::Done,
    }
}

/// `%`, `_` and the escape itself match literally.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://me:secret@db/x"),
            "postgres://me:***@db/x"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
