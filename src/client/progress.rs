//! A progress line on stderr for the commands that send many requests, shown
//! only when stderr is a terminal: piped or redirected, stderr carries
//! nothing but errors.

use std::io::{IsTerminal, Write};

/// Erases the terminal line the cursor is on (`\r` then EL2).
const ERASE_LINE: &str = "\r\x1b[2K";

/// One line, rewritten in place, erased when the work is done.
pub struct Progress {
    out: Option<Box<dyn Write + Send>>,
    shown: bool,
}

impl Progress {
    /// Progress on stderr when it is a terminal, else none.
    pub fn on_stderr() -> Progress {
        let stderr = std::io::stderr();
        let out = stderr.is_terminal().then(|| Box::new(stderr) as Box<dyn Write + Send>);
        Progress::to(out)
    }

    /// Progress written to `out`, or nowhere.
    pub fn to(out: Option<Box<dyn Write + Send>>) -> Progress {
        Progress { out, shown: false }
    }

    /// Replaces the line with `text`.
    pub fn show(&mut self, text: &str) {
        if let Some(out) = &mut self.out {
            // A terminal that cannot be written to is no reason to stop.
            let _ = write!(out, "{ERASE_LINE}{text}").and_then(|()| out.flush());
            self.shown = true;
        }
    }

    /// Erases the line, so the command's output starts on a clean one.
    pub fn clear(&mut self) {
        if let (Some(out), true) = (&mut self.out, self.shown) {
            let _ = write!(out, "{ERASE_LINE}").and_then(|()| out.flush());
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::*;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rewrites_one_line_and_erases_it() {
        let sink = Shared::default();
        let mut progress = Progress::to(Some(Box::new(sink.clone())));
        progress.show("1 page");
        progress.show("2 pages");
        drop(progress);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "\r\x1b[2K1 page\r\x1b[2K2 pages\r\x1b[2K");
    }

    #[test]
    fn nothing_shown_nothing_erased() {
        let sink = Shared::default();
        drop(Progress::to(Some(Box::new(sink.clone()))));
        assert!(sink.0.lock().unwrap().is_empty());
        let mut silent = Progress::to(None);
        silent.show("x");
        silent.clear();
    }
}
