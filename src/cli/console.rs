//! Where the command line writes, and whether a person is there to answer.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use madplan_core::Error;
use madplan_core::events::EventSink;

use super::progress::{BarProgress, LineProgress};

pub(crate) type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where the command line writes, and whether a person is there to answer.
#[derive(Clone)]
pub struct Console {
    out: Sink,
    err: Sink,
    interactive: bool,
}

/// Text captured by [`Console::captured`].
#[derive(Clone, Debug, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    /// What was written to standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// What was written to standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    /// The process's standard streams; interactive when standard input and
    /// standard error are terminals.
    pub fn stdio() -> Self {
        Self {
            out: Arc::new(Mutex::new(Box::new(std::io::stdout()))),
            err: Arc::new(Mutex::new(Box::new(std::io::stderr()))),
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    /// A non-interactive console writing into memory (for tests).
    pub fn captured() -> (Self, Captured) {
        let c = Captured::default();
        (
            Self {
                out: Arc::new(Mutex::new(Box::new(SharedBuf(c.out.clone())))),
                err: Arc::new(Mutex::new(Box::new(SharedBuf(c.err.clone())))),
                interactive: false,
            },
            c,
        )
    }

    pub(crate) fn print(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    pub(crate) fn eprint(&self, text: &str) {
        let mut err = self.err.lock().unwrap_or_else(|e| e.into_inner());
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    pub(crate) fn events(&self) -> Arc<dyn EventSink> {
        if self.interactive {
            Arc::new(BarProgress::default())
        } else {
            Arc::new(LineProgress(self.err.clone()))
        }
    }

    /// Asks the operator to type `yes`.
    pub(crate) fn confirm(&self, question: &str, auto_approve: bool) -> Result<(), Error> {
        if auto_approve {
            return Ok(());
        }
        if !self.interactive {
            return Err(Error::NotConfirmed(
                "there is no terminal to confirm on; review the plan and pass --auto-approve"
                    .into(),
            ));
        }
        self.eprint(&format!(
            "\n{question}\n  Only 'yes' will be accepted.\n\n  Enter a value: "
        ));
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Io {
                context: "reading the answer".into(),
                source: e,
            })?;
        if line.trim() == "yes" {
            Ok(())
        } else {
            Err(Error::NotConfirmed("cancelled; nothing was changed".into()))
        }
    }
}
