//! A task queue shared by several generators, on several machines, in PostgreSQL: each task is
//! leased by one generator at a time (`FOR UPDATE SKIP LOCKED`), the lease is renewed while the
//! run goes on and expires when its generator dies, so that another takes the task over; a
//! result is stored once per task, in the same transaction that marks it done, and only by the
//! generator that still holds the lease. Nothing is lost, and nothing is recorded twice.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row as _;

use super::generate::RunRecord;
use super::tasks::InstructTask;
use crate::EvalError;

/// The tables, created on first use (under an advisory lock, as generators start together).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS codeact_data_tasks (
        queue TEXT NOT NULL,
        key TEXT NOT NULL,
        file_stem TEXT NOT NULL,
        task TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done')),
        lease_owner TEXT,
        lease_expires TIMESTAMPTZ,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (queue, key))",
    "CREATE TABLE IF NOT EXISTS codeact_data_runs (
        queue TEXT NOT NULL,
        key TEXT NOT NULL,
        worker TEXT NOT NULL,
        record TEXT NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (queue, key))",
];

/// A task leased to this generator.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The run's row id: the task and the model.
    pub key: String,
    pub task: InstructTask,
    /// How many times the task has been leased, this time included.
    pub attempt: i32,
}

/// Where a queue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueState {
    pub total: usize,
    pub done: usize,
}

/// One generator's handle on a named queue.
pub struct TaskQueue {
    pool: PgPool,
    name: String,
    worker: String,
    lease: Duration,
}

fn db(e: sqlx::Error) -> EvalError {
    EvalError::Queue(e.to_string())
}

impl TaskQueue {
    /// Connects to the database at `url` (`postgres://…`) and creates the tables if needed.
    /// `name` separates queues in one database; `lease` is how long a task stays with a
    /// generator that stops renewing it.
    pub async fn connect(url: &str, name: &str, lease: Duration) -> Result<Self, EvalError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|e| EvalError::Queue(format!("cannot connect to the queue database: {e}")))?;
        let mut tx = pool.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('codeact_data_queue'))")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Self {
            pool,
            name: name.to_string(),
            worker: worker_id(),
            lease,
        })
    }

    /// This generator's name in the queue: host, process and a counter.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Adds the runs of `tasks` by `model` that the queue does not hold yet; returns how many
    /// were new.
    pub async fn enqueue(&self, tasks: &[InstructTask], model: &str) -> Result<usize, EvalError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut added = 0;
        for t in tasks {
            let r = sqlx::query(
                "INSERT INTO codeact_data_tasks (queue, key, file_stem, task) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&self.name)
            .bind(t.row_id(model))
            .bind(&t.file_stem)
            .bind(t.json.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            added += r.rows_affected() as usize;
        }
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    /// Leases the next task that is pending, or whose lease expired; `None` when there is none
    /// now (others may still hold some: see [`TaskQueue::state`]).
    pub async fn lease(&self) -> Result<Option<Lease>, EvalError> {
        let row = sqlx::query(
            "UPDATE codeact_data_tasks t
             SET state = 'leased', lease_owner = $2, attempts = t.attempts + 1,
                 lease_expires = now() + make_interval(secs => $3)
             FROM (SELECT key FROM codeact_data_tasks
                   WHERE queue = $1 AND (state = 'pending' OR (state = 'leased' AND lease_expires < now()))
                   ORDER BY key LIMIT 1 FOR UPDATE SKIP LOCKED) next
             WHERE t.queue = $1 AND t.key = next.key
             RETURNING t.key, t.file_stem, t.task, t.attempts",
        )
        .bind(&self.name)
        .bind(&self.worker)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key: String = row.try_get(0).map_err(db)?;
        let file_stem: String = row.try_get(1).map_err(db)?;
        let text: String = row.try_get(2).map_err(db)?;
        let attempt: i32 = row.try_get(3).map_err(db)?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| EvalError::Queue(format!("task {key} in the queue is not JSON: {e}")))?;
        let task = InstructTask::from_json(json, &file_stem)
            .map_err(|e| EvalError::Queue(format!("task {key} in the queue: {e}")))?;
        Ok(Some(Lease { key, task, attempt }))
    }

    /// Renews the lease on `key`; false when this generator no longer holds it.
    pub async fn renew(&self, key: &str) -> Result<bool, EvalError> {
        let r = sqlx::query(
            "UPDATE codeact_data_tasks SET lease_expires = now() + make_interval(secs => $4)
             WHERE queue = $1 AND key = $2 AND lease_owner = $3 AND state = 'leased'",
        )
        .bind(&self.name)
        .bind(key)
        .bind(&self.worker)
        .bind(self.lease.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores the run of `key` and marks the task done, if this generator still holds its
    /// lease; false (and nothing stored) when another generator has taken the task over.
    pub async fn complete(&self, key: &str, record: &RunRecord) -> Result<bool, EvalError> {
        let text = serde_json::to_string(record)
            .map_err(|e| EvalError::Queue(format!("cannot encode the run of {key}: {e}")))?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let r = sqlx::query(
            "UPDATE codeact_data_tasks SET state = 'done', lease_expires = NULL
             WHERE queue = $1 AND key = $2 AND lease_owner = $3 AND state = 'leased'",
        )
        .bind(&self.name)
        .bind(key)
        .bind(&self.worker)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() != 1 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO codeact_data_runs (queue, key, worker, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.name)
        .bind(key)
        .bind(&self.worker)
        .bind(text)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Gives the task back at once (its run failed here), for another generator to take.
    pub async fn release(&self, key: &str) -> Result<(), EvalError> {
        sqlx::query(
            "UPDATE codeact_data_tasks SET state = 'pending', lease_owner = NULL, lease_expires = NULL
             WHERE queue = $1 AND key = $2 AND lease_owner = $3 AND state = 'leased'",
        )
        .bind(&self.name)
        .bind(key)
        .bind(&self.worker)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Tasks in the queue, and how many are done.
    pub async fn state(&self) -> Result<QueueState, EvalError> {
        let row = sqlx::query(
            "SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM codeact_data_tasks WHERE queue = $1",
        )
        .bind(&self.name)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let total: i64 = row.try_get(0).map_err(db)?;
        let done: i64 = row.try_get(1).map_err(db)?;
        Ok(QueueState {
            total: total as usize,
            done: done as usize,
        })
    }

    /// Every stored run of the queue, in key order.
    pub async fn results(&self) -> Result<Vec<RunRecord>, EvalError> {
        let rows =
            sqlx::query("SELECT key, record FROM codeact_data_runs WHERE queue = $1 ORDER BY key")
                .bind(&self.name)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0).map_err(db)?;
                let text: String = row.try_get(1).map_err(db)?;
                serde_json::from_str(&text)
                    .map_err(|e| EvalError::Queue(format!("the stored run of {key}: {e}")))
            })
            .collect()
    }

    /// How long a lease lasts.
    pub fn lease_time(&self) -> Duration {
        self.lease
    }
}

/// `host:pid:n`, unique among the generators sharing a queue.
fn worker_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{host}:{}:{n}", std::process::id())
}
