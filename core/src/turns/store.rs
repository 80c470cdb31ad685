//! The turn runner's durable state: one SQLite database (bundled SQLite, WAL) with
//! the `sessions`, `events` and `messages` tables.
//!
//! Every connection runs in WAL mode with a `busy_timeout`, so readers never block the
//! writer and two writers wait for each other instead of failing. A read-then-write
//! runs in one `BEGIN IMMEDIATE` transaction. A session's state only moves along the
//! legal-transition table ([`AgentState::legal_predecessors`]), by one compare-and-swap
//! `UPDATE … WHERE state IN (…) RETURNING`, so a racing writer (an operator's stop, a
//! watchdog) is never silently overwritten.
//!
//! ```
//! use keel_core::turns::store::{Store, AgentState, TransitionOutcome};
//! # let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open(&dir.path().join("turns.db")).unwrap();
//! store.ensure_session("bob", Some("lead"), None).unwrap();
//! assert_eq!(
//!     store.try_transition_state("bob", AgentState::Working).unwrap(),
//!     TransitionOutcome::Ok { prev: AgentState::Booting }
//! );
//! // completed is final: a late "working" is refused and the state kept
//! store.try_transition_state("bob", AgentState::Completed).unwrap();
//! assert_eq!(
//!     store.try_transition_state("bob", AgentState::Working).unwrap(),
//!     TransitionOutcome::IllegalTransition { prev: AgentState::Completed, attempted: AgentState::Working }
//! );
//! assert_eq!(store.try_transition_state("nobody", AgentState::Working).unwrap(), TransitionOutcome::NotFound);
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::TurnError;

/// How long a connection waits for another writer before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The newest schema version this keel writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Versioned migrations: entry `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE sessions (
        name TEXT PRIMARY KEY NOT NULL,
        state TEXT NOT NULL,
        prevState TEXT,
        sessionId TEXT,
        parentAgent TEXT,
        runtime TEXT,
        createdAt INTEGER NOT NULL,
        lastActivity INTEGER NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        runId TEXT,
        agentName TEXT NOT NULL,
        sessionId TEXT,
        eventType TEXT NOT NULL,
        toolName TEXT,
        toolArgs TEXT,
        toolDurationMs INTEGER,
        level TEXT NOT NULL,
        data TEXT,
        createdAt INTEGER NOT NULL
    );
    CREATE INDEX events_by_agent ON events(agentName, id);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fromAgent TEXT NOT NULL,
        toAgent TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '',
        type TEXT NOT NULL,
        priority TEXT NOT NULL DEFAULT 'normal',
        threadId TEXT,
        payload TEXT,
        createdAt INTEGER NOT NULL
    );
    CREATE INDEX messages_by_sender ON messages(fromAgent, type, id);
    CREATE INDEX messages_by_recipient ON messages(toAgent, id);",
];

/// An agent session's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AgentState {
    /// Created, no event seen yet.
    Booting,
    /// Events seen; the agent has not signalled completion.
    Working,
    /// A watchdog saw no progress (set by a host's watchdog).
    Stalled,
    /// Done (final).
    Completed,
    /// Killed, or its runner died (final).
    Zombie,
}

impl AgentState {
    /// Every state.
    pub const ALL: [AgentState; 5] = [
        AgentState::Booting,
        AgentState::Working,
        AgentState::Stalled,
        AgentState::Completed,
        AgentState::Zombie,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Booting => "booting",
            AgentState::Working => "working",
            AgentState::Stalled => "stalled",
            AgentState::Completed => "completed",
            AgentState::Zombie => "zombie",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<AgentState> {
        AgentState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The legal-transition table: the states a session may move to `self` from.
    /// `booting → working | stalled | completed | zombie`, `working → stalled |
    /// completed | zombie`, `stalled → working | completed | zombie`; `completed` and
    /// `zombie` are final and nothing moves to `booting`.
    pub fn legal_predecessors(self) -> &'static [AgentState] {
        use AgentState::*;
        match self {
            Booting => &[],
            Working => &[Booting, Stalled],
            Stalled => &[Booting, Working],
            Completed => &[Booting, Working, Stalled],
            Zombie => &[Booting, Working, Stalled],
        }
    }

    /// Whether `from → self` is legal.
    pub fn can_follow(self, from: AgentState) -> bool {
        self.legal_predecessors().contains(&from)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`Store::try_transition_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TransitionOutcome {
    /// The state moved from `prev`.
    Ok {
        /// The state before.
        prev: AgentState,
    },
    /// The row is in a state the move is not legal from; it was left unchanged.
    IllegalTransition {
        /// The state found (and kept).
        prev: AgentState,
        /// The state that was refused.
        attempted: AgentState,
    },
    /// No session of that name.
    NotFound,
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "TurnSession"))]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The agent's name.
    pub name: String,
    /// Its state.
    pub state: AgentState,
    /// The runtime's session (Claude) or thread (Codex) id of its last turn.
    pub session_id: Option<String>,
    /// The agent to notify when it dies.
    pub parent_agent: Option<String>,
    /// `claude` or `codex`, when known.
    pub runtime: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms of the last turn's end.
    pub last_activity: i64,
}

/// An event to tee into the `events` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRow {
    /// The store's id (0 before insertion).
    pub id: i64,
    /// The run the turn belongs to.
    pub run_id: Option<String>,
    /// The agent.
    pub agent_name: String,
    /// The runtime session id known when the event arrived.
    pub session_id: Option<String>,
    /// `session_start`, `progress`, `tool_start`, `tool_end`, `result`, `error` or `custom`.
    pub event_type: String,
    /// The tool, for tool events.
    pub tool_name: Option<String>,
    /// The tool's (redacted) arguments as JSON.
    pub tool_args: Option<String>,
    /// Duration reported by the runtime.
    pub tool_duration_ms: Option<i64>,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The whole (redacted) event as JSON.
    pub data: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

/// A message between agents (the `messages` table: terminal signals such as
/// `worker_done`, and the runner's `worker_died`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The store's id (0 before insertion); increases with every insert.
    pub id: i64,
    /// The sender.
    pub from_agent: String,
    /// The recipient.
    pub to_agent: String,
    /// A one-line subject.
    pub subject: String,
    /// The text.
    pub body: String,
    /// The message type (`worker_done`, `worker_died`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// `low`, `normal`, `high`.
    pub priority: String,
    /// A thread to group it with.
    pub thread_id: Option<String>,
    /// A JSON payload.
    pub payload: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
}

/// A connection to the turn store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn state_col(s: String) -> rusqlite::Result<AgentState> {
    AgentState::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!(
                "unknown agent state {:?}",
                s.chars().take(20).collect::<String>()
            )
            .into(),
        )
    })
}

fn in_list(states: &[AgentState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Open (creating it, 0600, in a directory created 0700 if missing) and migrate
    /// the store at `path`.
    pub fn open(path: &Path) -> Result<Store, TurnError> {
        Self::open_with(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`open`](Store::open) with an explicit busy timeout.
    pub fn open_with(path: &Path, busy_timeout: Duration) -> Result<Store, TurnError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                crate::fsx::ensure_private_dir(dir)?;
            }
        }
        let fresh = !path.exists();
        let conn = Connection::open(path).map_err(|e| TurnError::store("open", e))?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(busy_timeout)
            .map_err(|e| TurnError::store("open", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| TurnError::store("open", e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| TurnError::store("open", e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, TurnError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| TurnError::store("migrate", e))
    }

    fn migrate(&mut self) -> Result<(), TurnError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| TurnError::store("migrate", e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| TurnError::store("migrate", e))?;
        if version > SCHEMA_VERSION {
            return Err(TurnError::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql)
                .map_err(|e| TurnError::store("migrate", e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| TurnError::store("migrate", e))?;
        }
        tx.commit().map_err(|e| TurnError::store("migrate", e))
    }

    /// The session called `name`.
    pub fn get_session(&self, name: &str) -> Result<Option<Session>, TurnError> {
        self.conn
            .query_row(
                "SELECT name, state, sessionId, parentAgent, runtime, createdAt, lastActivity
                 FROM sessions WHERE name = ?1",
                [name],
                |r| {
                    Ok(Session {
                        name: r.get(0)?,
                        state: state_col(r.get(1)?)?,
                        session_id: r.get(2)?,
                        parent_agent: r.get(3)?,
                        runtime: r.get(4)?,
                        created_at: r.get(5)?,
                        last_activity: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(|e| TurnError::store("read session", e))
    }

    /// Every session, by name.
    pub fn sessions(&self) -> Result<Vec<Session>, TurnError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM sessions ORDER BY name")
            .map_err(|e| TurnError::store("read session", e))?;
        let names: Vec<String> = st
            .query_map([], |r| r.get(0))
            .and_then(|it| it.collect())
            .map_err(|e| TurnError::store("read session", e))?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(s) = self.get_session(&n)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Read the session `name`, creating it in `booting` when missing (one
    /// `BEGIN IMMEDIATE` transaction). A given `parent` or `runtime` is stored on the row.
    pub fn ensure_session(
        &mut self,
        name: &str,
        parent: Option<&str>,
        runtime: Option<&str>,
    ) -> Result<Session, TurnError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| TurnError::store("create session", e))?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO sessions (name, state, parentAgent, runtime, createdAt, lastActivity)
             VALUES (?1, 'booting', ?2, ?3, ?4, ?4) ON CONFLICT(name) DO NOTHING",
            params![name, parent, runtime, now],
        )
        .map_err(|e| TurnError::store("create session", e))?;
        if let Some(p) = parent {
            tx.execute(
                "UPDATE sessions SET parentAgent = ?2 WHERE name = ?1",
                params![name, p],
            )
            .map_err(|e| TurnError::store("create session", e))?;
        }
        if let Some(rt) = runtime {
            tx.execute(
                "UPDATE sessions SET runtime = ?2 WHERE name = ?1",
                params![name, rt],
            )
            .map_err(|e| TurnError::store("create session", e))?;
        }
        tx.commit()
            .map_err(|e| TurnError::store("create session", e))?;
        self.get_session(name)?.ok_or(TurnError::Store {
            op: "create session",
            detail: "the row vanished after insertion".into(),
        })
    }

    /// Insert (or replace) a session row in `state` — for hosts that manage sessions
    /// themselves, and tests.
    pub fn put_session(
        &self,
        name: &str,
        state: AgentState,
        parent: Option<&str>,
    ) -> Result<(), TurnError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO sessions (name, state, parentAgent, createdAt, lastActivity)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(name) DO UPDATE SET state = excluded.state, parentAgent = excluded.parentAgent",
                params![name, state.as_str(), parent, now],
            )
            .map_err(|e| TurnError::store("write session", e))?;
        Ok(())
    }

    /// Move the session to `to` if, and only if, its current state is a legal
    /// predecessor of `to`: one `UPDATE … WHERE state IN (…) RETURNING`, so concurrent
    /// writers serialise on SQLite's write lock and the loser sees the winner's state.
    pub fn try_transition_state(
        &mut self,
        name: &str,
        to: AgentState,
    ) -> Result<TransitionOutcome, TurnError> {
        let preds = to.legal_predecessors();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| TurnError::store("transition", e))?;
        let moved: Option<String> = if preds.is_empty() {
            None
        } else {
            // The IN list is built from the fixed table above, never from input.
            let sql = format!(
                "UPDATE sessions SET prevState = state, state = ?1, lastActivity = MAX(lastActivity, ?3)
                 WHERE name = ?2 AND state IN ({}) RETURNING prevState",
                in_list(preds)
            );
            tx.query_row(&sql, params![to.as_str(), name, now_ms()], |r| r.get(0))
                .optional()
                .map_err(|e| TurnError::store("transition", e))?
        };
        let outcome = match moved {
            Some(prev) => TransitionOutcome::Ok {
                prev: state_col(prev).map_err(|e| TurnError::store("transition", e))?,
            },
            None => {
                let cur: Option<String> = tx
                    .query_row("SELECT state FROM sessions WHERE name = ?1", [name], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(|e| TurnError::store("transition", e))?;
                match cur {
                    None => TransitionOutcome::NotFound,
                    Some(s) => TransitionOutcome::IllegalTransition {
                        prev: state_col(s).map_err(|e| TurnError::store("transition", e))?,
                        attempted: to,
                    },
                }
            }
        };
        tx.commit().map_err(|e| TurnError::store("transition", e))?;
        Ok(outcome)
    }

    /// Record the runtime session id of the agent's latest turn.
    pub fn set_session_id(&self, name: &str, session_id: &str) -> Result<bool, TurnError> {
        self.conn
            .execute(
                "UPDATE sessions SET sessionId = ?2 WHERE name = ?1",
                params![name, session_id],
            )
            .map(|n| n > 0)
            .map_err(|e| TurnError::store("write session id", e))
    }

    /// Set `lastActivity` to `at` (epoch ms) if that is later than the stored value.
    /// `false` when there is no such session.
    pub fn touch_last_activity(&self, name: &str, at: i64) -> Result<bool, TurnError> {
        self.conn
            .execute(
                "UPDATE sessions SET lastActivity = MAX(lastActivity, ?2) WHERE name = ?1",
                params![name, at],
            )
            .map(|n| n > 0)
            .map_err(|e| TurnError::store("write lastActivity", e))
    }

    /// Append an event; returns its id.
    pub fn insert_event(&self, e: &EventRow) -> Result<i64, TurnError> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (runId, agentName, sessionId, eventType, toolName, toolArgs,
                    toolDurationMs, level, data, createdAt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    e.run_id,
                    e.agent_name,
                    e.session_id,
                    e.event_type,
                    e.tool_name,
                    e.tool_args,
                    e.tool_duration_ms,
                    e.level,
                    e.data,
                    if e.created_at == 0 {
                        now_ms()
                    } else {
                        e.created_at
                    },
                ])
            })
            .map_err(|e| TurnError::store("insert event", e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The events of `agent`, oldest first.
    pub fn events(&self, agent: &str) -> Result<Vec<EventRow>, TurnError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, runId, agentName, sessionId, eventType, toolName, toolArgs,
                    toolDurationMs, level, data, createdAt
                 FROM events WHERE agentName = ?1 ORDER BY id",
            )
            .map_err(|e| TurnError::store("read events", e))?;
        let rows = st
            .query_map([agent], |r| {
                Ok(EventRow {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    agent_name: r.get(2)?,
                    session_id: r.get(3)?,
                    event_type: r.get(4)?,
                    tool_name: r.get(5)?,
                    tool_args: r.get(6)?,
                    tool_duration_ms: r.get(7)?,
                    level: r.get(8)?,
                    data: r.get(9)?,
                    created_at: r.get(10)?,
                })
            })
            .and_then(|it| it.collect())
            .map_err(|e| TurnError::store("read events", e))?;
        Ok(rows)
    }

    /// Send a message; returns its id.
    pub fn insert_message(&self, m: &Message) -> Result<i64, TurnError> {
        self.conn
            .execute(
                "INSERT INTO messages (fromAgent, toAgent, subject, body, type, priority, threadId,
                    payload, createdAt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    m.from_agent,
                    m.to_agent,
                    m.subject,
                    m.body,
                    m.kind,
                    if m.priority.is_empty() {
                        "normal"
                    } else {
                        &m.priority
                    },
                    m.thread_id,
                    m.payload,
                    if m.created_at == 0 {
                        now_ms()
                    } else {
                        m.created_at
                    },
                ],
            )
            .map_err(|e| TurnError::store("insert message", e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The messages sent to `agent`, oldest first.
    pub fn messages_to(&self, agent: &str) -> Result<Vec<Message>, TurnError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, fromAgent, toAgent, subject, body, type, priority, threadId, payload,
                    createdAt FROM messages WHERE toAgent = ?1 ORDER BY id",
            )
            .map_err(|e| TurnError::store("read messages", e))?;
        let rows = st
            .query_map([agent], |r| {
                Ok(Message {
                    id: r.get(0)?,
                    from_agent: r.get(1)?,
                    to_agent: r.get(2)?,
                    subject: r.get(3)?,
                    body: r.get(4)?,
                    kind: r.get(5)?,
                    priority: r.get(6)?,
                    thread_id: r.get(7)?,
                    payload: r.get(8)?,
                    created_at: r.get(9)?,
                })
            })
            .and_then(|it| it.collect())
            .map_err(|e| TurnError::store("read messages", e))?;
        Ok(rows)
    }

    /// The id of the latest message from `from` whose type is one of `types` (0 when
    /// there is none): the baseline a turn's terminal-signal check counts from.
    pub fn latest_message_id(&self, from: &str, types: &[String]) -> Result<i64, TurnError> {
        let mut best = 0i64;
        for t in types {
            let id: Option<i64> = self
                .conn
                .query_row(
                    "SELECT MAX(id) FROM messages WHERE fromAgent = ?1 AND type = ?2",
                    params![from, t],
                    |r| r.get(0),
                )
                .map_err(|e| TurnError::store("read messages", e))?;
            best = best.max(id.unwrap_or(0));
        }
        Ok(best)
    }

    /// Whether `from` sent a message of one of `types` with an id above `after`.
    pub fn message_since(
        &self,
        from: &str,
        types: &[String],
        after: i64,
    ) -> Result<bool, TurnError> {
        for t in types {
            let hit: Option<i64> = self
                .conn
                .query_row(
                    "SELECT 1 FROM messages WHERE fromAgent = ?1 AND type = ?2 AND id > ?3 LIMIT 1",
                    params![from, t, after],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| TurnError::store("read messages", e))?;
            if hit.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
