//! Progress on stderr for long work: a live line on a terminal, a line every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    start: Instant,
    last: Instant,
    tty: bool,
}

impl Progress {
    pub fn new(label: impl Into<String>) -> Self {
        let now = Instant::now();
        Progress {
            label: label.into(),
            start: now,
            last: now - Duration::from_secs(60),
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: usize, total: usize) {
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        if done < total && self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if done > 0 {
            elapsed / done as f64 * (total - done) as f64
        } else {
            f64::NAN
        };
        let line = format!(
            "{}: {done}/{total} ({:.0}%), {elapsed:.1}s elapsed, ETA {eta:.0}s",
            self.label,
            100.0 * done as f64 / total.max(1) as f64
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if done >= total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}
