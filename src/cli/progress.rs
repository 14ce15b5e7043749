//! How progress is shown: a spinner per resource in flight on a terminal,
//! one line per event otherwise.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use madplan_core::Address;
use madplan_core::events::{Event, EventSink};

use super::console::Sink;

fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Refreshing { kind } => format!("refreshing {kind}"),
        Event::Started { address, action } => format!("{address}: {}...", ing(action.verb())),
        Event::Progress { address, message } => format!("{address}: {message}"),
        Event::Retrying {
            address,
            error,
            wait,
        } => {
            format!(
                "{address}: retrying in {:.1}s after: {error}",
                wait.as_secs_f64()
            )
        }
        Event::Finished {
            address,
            action,
            elapsed,
        } => format!(
            "{address}: {} after {:.1}s",
            ed(action.verb()),
            elapsed.as_secs_f64()
        ),
        Event::Failed {
            address,
            action,
            error,
        } => format!("{address}: {} failed: {error}", action.verb()),
        Event::LockTakenOver { previous } => format!(
            "Took over the state lock held by {previous}: its lease had expired (that run \
             stopped renewing it)"
        ),
        _ => return None,
    })
}

fn ing(verb: &str) -> String {
    format!("{}ing", verb.trim_end_matches('e'))
}

fn ed(verb: &str) -> String {
    if verb.ends_with('e') {
        format!("{verb}d")
    } else {
        format!("{verb}ed")
    }
}

/// One line per event, for logs and CI.
pub(crate) struct LineProgress(pub(crate) Sink);

impl EventSink for LineProgress {
    fn event(&self, event: &Event) {
        if let Some(line) = describe(event) {
            let mut err = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(err, "{line}");
        }
    }
}

/// A spinner per resource in flight, on a terminal.
#[derive(Default)]
pub(crate) struct BarProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<Address, ProgressBar>>,
}

impl EventSink for BarProgress {
    fn event(&self, event: &Event) {
        let Some(text) = describe(event) else { return };
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Started { address, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(text);
                bars.insert(address.clone(), bar);
            }
            Event::Progress { address, .. } | Event::Retrying { address, .. } => {
                if let Some(bar) = bars.get(address) {
                    bar.set_message(text);
                }
            }
            Event::Finished { address, .. } | Event::Failed { address, .. } => {
                if let Some(bar) = bars.remove(address) {
                    bar.finish_with_message(text);
                }
            }
            _ => {
                let _ = self.multi.println(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_read_well() {
        assert_eq!(ing("create"), "creating");
        assert_eq!(ing("update"), "updating");
        assert_eq!(ing("delete"), "deleting");
        assert_eq!(ed("replace"), "replaced");
        assert_eq!(ed("create"), "created");
    }
}
