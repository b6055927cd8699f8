//! Progress on standard error: an indicatif bar (codes/s, ETA) on a terminal, a plain
//! line every few seconds otherwise (a log, a CI job), nothing with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// A progress display shared by the import's threads.
#[derive(Debug)]
pub enum Progress {
    /// The terminal bar.
    Bar(ProgressBar),
    /// Periodic lines.
    Plain(Plain),
    /// Nothing.
    Hidden,
}

/// Periodic progress lines.
#[derive(Debug)]
pub struct Plain {
    label: String,
    total: u64,
    done: AtomicU64,
    start: Instant,
    last: Mutex<Instant>,
}

impl Progress {
    /// A display of `total` codes: a bar when standard error is a terminal.
    pub fn new(label: &str, total: u64, quiet: bool) -> Self {
        if quiet {
            return Self::Hidden;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar:.cyan/blue} {human_pos}/{human_len} codes {rate} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} codes/s", state.per_sec());
                },
            )
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            Self::Bar(bar)
        } else {
            let now = Instant::now();
            Self::Plain(Plain {
                label: label.to_owned(),
                total,
                done: AtomicU64::new(0),
                start: now,
                last: Mutex::new(now),
            })
        }
    }

    /// `n` more codes handled.
    pub fn inc(&self, n: u64) {
        match self {
            Self::Bar(bar) => bar.inc(n),
            Self::Plain(plain) => {
                let done = plain.done.fetch_add(n, Ordering::Relaxed) + n;
                let mut last = plain.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    plain.line(done);
                }
            }
            Self::Hidden => {}
        }
    }

    /// Ends the display after a failure: the bar stays as it was, no final line.
    pub fn abandon(&self) {
        if let Self::Bar(bar) = self {
            bar.abandon();
            eprintln!();
        }
    }

    /// Ends the display.
    pub fn finish(&self) {
        match self {
            Self::Bar(bar) => {
                bar.finish();
                eprintln!();
            }
            Self::Plain(plain) => plain.line(plain.done.load(Ordering::Relaxed)),
            Self::Hidden => {}
        }
    }
}

impl Plain {
    fn line(&self, done: u64) {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let percent = if self.total > 0 {
            done as f64 * 100.0 / self.total as f64
        } else {
            100.0
        };
        let left = if rate > 0.0 && done < self.total {
            format!(", about {:.0} s left", (self.total - done) as f64 / rate)
        } else {
            String::new()
        };
        eprintln!(
            "{}: {done}/{} codes ({percent:.0}%), {rate:.0} codes/s{left}",
            self.label, self.total
        );
    }
}
