//! Rows as they are found, not as fusebox writes them: another tool (or a
//! damaged file) may have put any SQLite type in any column. A value fusebox
//! did not write becomes text the state machine rejects, so the breaker
//! resets it with a warning instead of failing every call.

use rusqlite::types::ValueRef;

/// One breaker's row, read without trusting its column types.
pub(super) struct Row {
    /// The machine text, or a description of a foreign value that the
    /// state machine rejects as corrupt.
    pub(super) machine: String,
    /// When the row was last written or kept alive; `None` when the column
    /// holds something other than an integer (the row is then corrupt).
    pub(super) updated_at: Option<i64>,
}

impl Row {
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let machine = text_of(row.get_ref(0)?, "machine");
        let updated_at = match row.get_ref(1)? {
            ValueRef::Integer(at) => Some(at),
            _ => None,
        };
        Ok(Row {
            machine,
            updated_at,
        })
    }

    /// The text to hand the state machine: the stored text, or (for a row
    /// whose time is foreign) a value it resets.
    pub(super) fn into_text(self) -> String {
        match self.updated_at {
            Some(_) => self.machine,
            None => FOREIGN_TIME.to_owned(),
        }
    }

    /// Whether the row is still kept at `now`: manual states always are,
    /// others while written or read within `ttl`. A row with a foreign time
    /// is kept (and reset when read).
    pub(super) fn is_live(&self, now: i64, ttl: i64) -> bool {
        match self.updated_at {
            Some(at) => is_manual(&self.machine) || now.saturating_sub(at) < ttl,
            None => true,
        }
    }

    /// Whether a read at `now` should refresh the row's time, so that a
    /// breaker in use does not expire. Only after a quarter of the TTL, so
    /// that most reads stay read-only.
    pub(super) fn needs_touch(&self, now: i64, ttl: i64) -> bool {
        self.updated_at
            .is_some_and(|at| now.saturating_sub(at) >= ttl / TOUCH_FRACTION)
    }
}

/// A live row's time is refreshed by reads once this fraction of the TTL
/// has passed since it was last refreshed.
const TOUCH_FRACTION: i64 = 4;

/// Handed to the machine for a row whose `updated_at` is not an integer.
const FOREIGN_TIME: &str = "(a row whose updated_at is not an integer)";

/// The text of a column, or a description of what is there instead.
pub(super) fn text_of(value: ValueRef<'_>, column: &str) -> String {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("({column} holds {} bytes that are not UTF-8)", bytes.len()),
        },
        ValueRef::Null => format!("({column} is NULL)"),
        ValueRef::Integer(n) => format!("({column} is the integer {n})"),
        ValueRef::Real(x) => format!("({column} is the real {x})"),
    }
}

/// Whether machine text is in a state set by hand, which never expires.
pub(super) fn is_manual(machine: &str) -> bool {
    MANUAL_STATES.contains(&crate::state_name(machine))
}

/// The states only a person leaves: their rows never expire on their own.
pub(super) const MANUAL_STATES: [&str; 2] = ["forced_open", "disabled"];
