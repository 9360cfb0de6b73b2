//! `fusebox status [NAME] [--json]`

use fusebox::Metrics;
use serde_json::json;

use crate::args::StatusArgs;
use crate::breaker::{build, check, open_store};
use crate::Exit;

pub(crate) fn status(args: StatusArgs) -> Result<u8, Exit> {
    if let Some(name) = &args.name {
        check(name, &args.breaker)?;
    }
    let store = open_store(&args.breaker)?;
    let names = match &args.name {
        Some(name) => vec![name.clone()],
        None => store.names().map_err(|e| Exit::Store(e.to_string()))?,
    };
    let mut all = Vec::with_capacity(names.len());
    for name in &names {
        let settings = check(name, &args.breaker)?;
        let breaker = build(name, &settings, store.clone())?;
        let metrics = breaker.metrics();
        if metrics.degraded {
            return Err(Exit::Store(format!(
                "cannot read circuit '{name}': {} cannot be reached",
                store.describe()
            )));
        }
        all.push(metrics);
    }
    if args.json {
        let rows: Vec<_> = all.iter().map(to_json).collect();
        let value = match args.name {
            Some(_) => rows.into_iter().next().unwrap_or_default(),
            None => serde_json::Value::Array(rows),
        };
        println!("{value}");
    } else {
        print_table(&all);
    }
    Ok(0)
}

fn to_json(m: &Metrics) -> serde_json::Value {
    let retry = m.retry_after.map(|d| d.as_secs_f64());
    json!({
        "name": &*m.name,
        "state": m.state.as_str(),
        "failures": m.consecutive_failures,
        "consecutive_failures": m.consecutive_failures,
        "retry_after": retry,
        "retry_in": retry,
        "generation": m.generation,
        "half_open_in_flight": m.half_open_in_flight,
        "time_in_state": m.time_in_state.as_secs_f64(),
    })
}

fn print_table(all: &[Metrics]) {
    let width = all.iter().map(|m| m.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<width$}  {:<11}  {:>8}  RETRY IN",
        "NAME", "STATE", "FAILURES"
    );
    for m in all {
        let retry = m.retry_after.map_or_else(
            || "-".to_owned(),
            |d| format!("{}s", d.as_secs_f64().ceil()),
        );
        println!(
            "{:<width$}  {:<11}  {:>8}  {retry}",
            m.name,
            m.state.as_str(),
            m.consecutive_failures
        );
    }
}
