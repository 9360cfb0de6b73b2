//! The core's warnings and errors (a store that cannot be reached, state
//! written back when it returns) as records of the Python logger `fusebox`.
//!
//! The core reports through `tracing`; this module installs, once per
//! process, a subscriber that takes only WARN and ERROR events and hands
//! each to `logging.getLogger("fusebox")`. The logger is looked up per
//! record, so levels and handlers set at any time apply. Transitions are not
//! taken from here: the breaker's listener logs them at INFO itself.

use std::fmt::Write;

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Installs the subscriber, unless the process already has one.
pub(crate) fn install() {
    let _ = tracing::subscriber::set_global_default(ToPythonLogging);
}

struct ToPythonLogging;

impl Subscriber for ToPythonLogging {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let level = if *event.metadata().level() == Level::ERROR {
            40
        } else {
            30
        };
        let message = text.finish();
        crate::shutdown::attach(|py| {
            let logged = py
                .import("logging")
                .and_then(|logging| logging.call_method1("getLogger", ("fusebox",)))
                .and_then(|logger| logger.call_method1("log", (level, message)));
            if let Err(err) = logged {
                err.write_unraisable(py, None);
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's message followed by its other fields as `key=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{} ({})", self.message, self.fields.trim_start())
        }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
