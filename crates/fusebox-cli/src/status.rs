//! `fusebox status [NAME] [--json] [--watch]`
//!
//! Reads the stored state without writing anything (no file is created, no
//! state is moved on, nothing expired is swept), and shows every breaker it
//! can; a row it cannot read is shown as `unreadable` with the reason, and
//! never hides the others.

use std::io::Write;
use std::time::Duration;

use fusebox::State;
use serde_json::Value;

use crate::args::StatusArgs;
use crate::scan::{place, to_json, Row};
use crate::store::Location;
use crate::{human, scan, store, Exit};

/// The longest name the table shows in full.
const NAME_WIDTH: usize = 48;

pub(crate) fn status(args: StatusArgs) -> Result<u8, Exit> {
    if let Some(name) = &args.name {
        crate::breaker::check_name(name)?;
    }
    let location = store::locate(&args.breaker)?;
    if args.watch {
        return crate::watch::watch(&args, &location);
    }
    if args.interval.is_some() {
        return Err(Exit::Usage(
            "--interval is for --watch: fusebox status --watch --interval 2s".into(),
        ));
    }
    let rows = scan::scan(&location, args.name.as_deref())?;
    if let Some(name) = &args.name {
        if rows.is_empty() {
            return Err(Exit::Other(1, missing(name, &location)));
        }
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let mut all: Vec<Value> = rows.iter().map(to_json).collect();
        let value = match args.name {
            Some(_) => all.swap_remove(0),
            None => Value::Array(all),
        };
        writeln!(out, "{value}")
    } else if rows.is_empty() {
        drop(out);
        eprintln!("fusebox: {}", empty(&location));
        Ok(())
    } else {
        print_table(&mut out, &rows)
    };
    // A reader that went away (`| head`) is not an error.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Exit::Other(74, format!("cannot write the status: {e}")))
        }
        _ => {
            for row in &rows {
                if let Err(why) = &row.view {
                    eprintln!("fusebox: {}", unreadable(row, why));
                }
            }
            Ok(0)
        }
    }
}

/// `NAME` is not in the store.
pub(crate) fn missing(name: &str, location: &Location) -> String {
    format!(
        "no breaker named '{}' in {}",
        human::name(name, NAME_WIDTH),
        place(location)
    )
}

/// The store holds no breaker.
pub(crate) fn empty(location: &Location) -> String {
    format!("no breakers yet in {}", place(location))
}

/// Why a row shows as `unreadable`.
pub(crate) fn unreadable(row: &Row, why: &str) -> String {
    format!(
        "cannot read circuit '{}': {why}",
        human::name(&row.name, NAME_WIDTH)
    )
}

/// The table of `rows`, one line each under a heading.
pub(crate) fn print_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let names: Vec<String> = rows
        .iter()
        .map(|r| human::name(&r.name, NAME_WIDTH))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {:<13}  WHY",
        "NAME", "STATE", "FAILURES", "IN A ROW", "REFUSED", "SINCE", "RETRY IN"
    )?;
    for (row, name) in rows.iter().zip(&names) {
        let Ok(m) = &row.view else {
            writeln!(
                out,
                "{name:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {:<13}  see below",
                "unreadable", "-", "-", "-", "-", "-"
            )?;
            continue;
        };
        let retry = match (m.state, m.retry_after) {
            (State::Open, Some(after)) => human::duration(after),
            (State::HalfOpen, _) if m.half_open_in_flight > 0 => "trial running".to_owned(),
            (State::HalfOpen, _) => "now".to_owned(),
            (State::ForcedOpen, _) => "after reset".to_owned(),
            _ => "-".to_owned(),
        };
        let why = m.reason.map_or_else(|| "-".to_owned(), |r| r.to_string());
        writeln!(
            out,
            "{name:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {retry:<13}  {why}",
            m.state.as_str(),
            m.failures_since_closed,
            m.consecutive_failures,
            m.refusals_recorded,
            // Whole seconds down: "0s ago" just after a change.
            format!(
                "{} ago",
                human::duration(Duration::from_secs(m.time_in_state.as_secs()))
            ),
        )?;
    }
    Ok(())
}
