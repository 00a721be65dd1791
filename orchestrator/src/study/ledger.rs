//! The ledger: `ledger.sqlite` in the study folder — runs, their states and costs, and the
//! metrics of every evaluated checkpoint. SQLite in WAL mode with full sync: every state change
//! is one committed statement, so a crash at any moment (kill -9 included) leaves a ledger that
//! resumes cleanly.

use super::plan::PlannedRun;
use super::StudyError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

pub struct Ledger {
    conn: Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Pending,
    Running,
    Done,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> RunState {
        match s {
            "running" => RunState::Running,
            "done" => RunState::Done,
            "failed" => RunState::Failed,
            _ => RunState::Pending,
        }
    }
}

/// A run as the ledger holds it.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub label: String,
    pub method: String,
    pub params: String,
    pub state: RunState,
    pub record: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EvalRow {
    pub epoch: u64,
    pub metrics: String,
}

fn db(e: rusqlite::Error) -> StudyError {
    StudyError::Ledger(e.to_string())
}

/// The `evals.run_id` of the base model evaluated as its own checkpoint: the study's reference
/// row (what the model shows before fine-tuning). `@` cannot start a planned run id.
pub const BASE_RUN: &str = "@base";

/// The base row's id for `model` in a study of several models (`@base:name`); [`BASE_RUN`]
/// when there is one (`model` empty).
pub fn base_run(model: &str) -> String {
    if model.is_empty() {
        BASE_RUN.to_string()
    } else {
        format!("{BASE_RUN}:{model}")
    }
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Self, StudyError> {
        let conn = Connection::open(path)
            .map_err(|e| StudyError::Ledger(format!("{}: {e}", path.display())))?;
        // The busy timeout comes first: switching to WAL needs a lock that a reader
        // (`triad report` on a running study) may hold for a moment.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
            .map_err(db)?;
        // One transaction, so a reader never sees a ledger with only some tables.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS runs(
                 id TEXT PRIMARY KEY, label TEXT NOT NULL, method TEXT NOT NULL,
                 params TEXT NOT NULL, run_toml TEXT NOT NULL, position INTEGER NOT NULL,
                 state TEXT NOT NULL, trainer TEXT, attempts INTEGER NOT NULL DEFAULT 0,
                 record TEXT, error TEXT, updated REAL);
             CREATE TABLE IF NOT EXISTS evals(
                 run_id TEXT NOT NULL, epoch INTEGER NOT NULL, checkpoint TEXT NOT NULL,
                 metrics TEXT NOT NULL, updated REAL,
                 PRIMARY KEY(run_id, epoch));
             CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records(
                 run_id TEXT NOT NULL, epoch INTEGER NOT NULL, stats TEXT NOT NULL,
                 PRIMARY KEY(run_id, epoch));
             COMMIT;",
        )
        .map_err(db)?;
        Ok(Ledger { conn })
    }

    /// Open a ledger that must already be a study's: no table is created, and a file that is
    /// not one (empty, another database, garbage) is an error — `triad report` must not turn
    /// it into an empty report over a real one.
    pub fn open_existing(path: &Path) -> Result<Self, StudyError> {
        let bad = |why: String| StudyError::Ledger(format!("{}: {why}", path.display()));
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| bad(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        for table in ["runs", "evals", "meta"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    params![table],
                    |r| r.get(0),
                )
                .map_err(|e| bad(format!("not a study ledger ({e})")))?;
            if n == 0 {
                return Err(bad(format!("not a study ledger (no table `{table}`)")));
            }
        }
        Ok(Ledger { conn })
    }

    fn now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StudyError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES(?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(db)?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StudyError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    /// Record the plan: new runs are added as pending; known runs keep their state. Only the
    /// runs of this plan are `current` (a changed spec leaves older runs in the ledger).
    pub fn plan(&self, runs: &[PlannedRun]) -> Result<(), StudyError> {
        for (i, r) in runs.iter().enumerate() {
            let params = serde_json::to_string(&r.params).expect("json");
            self.conn
                .execute(
                    "INSERT INTO runs(id, label, method, params, run_toml, position, state, updated)
                     VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)
                     ON CONFLICT(id) DO UPDATE SET position = excluded.position",
                    params![r.id, r.label, r.method, params, r.run_toml, i as i64, Self::now()],
                )
                .map_err(db)?;
        }
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        self.set_meta("current_runs", &serde_json::to_string(&ids).expect("json"))
    }

    pub fn set_state(
        &self,
        id: &str,
        state: RunState,
        trainer: Option<&str>,
        record: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StudyError> {
        self.conn
            .execute(
                "UPDATE runs SET state = ?2, trainer = COALESCE(?3, trainer),
                     record = COALESCE(?4, record), error = ?5, updated = ?6,
                     attempts = attempts + (?2 = 'running')
                 WHERE id = ?1",
                params![id, state.as_str(), trainer, record, error, Self::now()],
            )
            .map_err(db)?;
        Ok(())
    }

    /// The runs of the current plan, in plan order.
    pub fn runs(&self) -> Result<Vec<RunRow>, StudyError> {
        let current: Vec<String> = self
            .meta("current_runs")?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, label, method, params, state, record, error FROM runs
                 ORDER BY position",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    method: r.get(2)?,
                    params: r.get(3)?,
                    state: RunState::parse(&r.get::<_, String>(4)?),
                    record: r.get(5)?,
                    error: r.get(6)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter(|r| current.contains(&r.id))
            .collect())
    }

    /// An evaluation's metrics and, where the evaluator sent them, its per-record statistics
    /// (both or neither: one transaction).
    pub fn add_eval(
        &mut self,
        run_id: &str,
        epoch: u64,
        checkpoint: &str,
        metrics: &str,
        records: Option<&str>,
    ) -> Result<(), StudyError> {
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO evals(run_id, epoch, checkpoint, metrics, updated) VALUES(?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(run_id, epoch) DO UPDATE SET checkpoint = excluded.checkpoint,
                 metrics = excluded.metrics, updated = excluded.updated",
            params![run_id, epoch as i64, checkpoint, metrics, Self::now()],
        )
        .map_err(db)?;
        if let Some(records) = records {
            tx.execute(
                "INSERT INTO records(run_id, epoch, stats) VALUES(?1, ?2, ?3)
                 ON CONFLICT(run_id, epoch) DO UPDATE SET stats = excluded.stats",
                params![run_id, epoch as i64, records],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The per-record statistics of an evaluation; `None` where it has none (a study
    /// evaluated before they were kept, whose ledger may lack the table).
    pub fn records(&self, run_id: &str, epoch: u64) -> Result<Option<String>, StudyError> {
        let has_table: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'records'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db)?
            > 0;
        if !has_table {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT stats FROM records WHERE run_id = ?1 AND epoch = ?2",
                params![run_id, epoch as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
    }

    pub fn has_eval(&self, run_id: &str, epoch: u64) -> Result<bool, StudyError> {
        self.conn
            .query_row(
                "SELECT 1 FROM evals WHERE run_id = ?1 AND epoch = ?2",
                params![run_id, epoch as i64],
                |_| Ok(()),
            )
            .optional()
            .map(|x| x.is_some())
            .map_err(db)
    }

    pub fn evals(&self, run_id: &str) -> Result<Vec<EvalRow>, StudyError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT epoch, metrics FROM evals WHERE run_id = ?1
                 ORDER BY epoch",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(EvalRow {
                    epoch: r.get::<_, i64>(0)? as u64,
                    metrics: r.get(1)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(id: &str) -> PlannedRun {
        PlannedRun {
            id: id.into(),
            model: String::new(),
            label: "lora".into(),
            method: "lora".into(),
            params: BTreeMap::new(),
            run_toml: "x = 1".into(),
            epochs: 2,
        }
    }

    #[test]
    fn states_and_evals_survive_reopening_and_replanning() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.sqlite");
        {
            let mut l = Ledger::open(&p).unwrap();
            l.plan(&[run("a"), run("b")]).unwrap();
            l.set_state("a", RunState::Done, Some("t1"), Some("{}"), None)
                .unwrap();
            l.add_eval(
                "a",
                1,
                "runs/a/epoch-1",
                "{\"x\":1}",
                Some("{\"train\":[]}"),
            )
            .unwrap();
            l.add_eval("a", 2, "runs/a/epoch-2", "{\"x\":2}", None)
                .unwrap();
        }
        let l = Ledger::open(&p).unwrap();
        l.plan(&[run("a"), run("c")]).unwrap();
        let runs = l.runs().unwrap();
        let ids: Vec<_> = runs.iter().map(|r| (r.id.as_str(), r.state)).collect();
        assert_eq!(ids, [("a", RunState::Done), ("c", RunState::Pending)]);
        assert!(l.has_eval("a", 1).unwrap() && !l.has_eval("a", 3).unwrap());
        assert_eq!(l.evals("a").unwrap()[0].metrics, "{\"x\":1}");
        assert_eq!(
            l.records("a", 1).unwrap().as_deref(),
            Some("{\"train\":[]}")
        );
        assert_eq!(l.records("a", 2).unwrap(), None);
    }

    #[test]
    fn a_ledger_from_before_records_were_kept_reads_as_having_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.sqlite");
        Ledger::open(&p).unwrap();
        rusqlite::Connection::open(&p)
            .unwrap()
            .execute_batch("DROP TABLE records;")
            .unwrap();
        let l = Ledger::open_existing(&p).unwrap();
        assert_eq!(l.records("a", 1).unwrap(), None);
    }
}
