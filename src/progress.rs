//! Progress on the terminal, one reporter for `train`, `ensemble`, `sweep` and `reproduce` (native only): an
//! indicatif bar on stderr when stderr is a terminal, and otherwise plain lines at most every
//! [`PLAIN_EVERY`] (a batch log gets a readable line now and then, not a stream of carriage returns).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::TrainError;
use crate::pace::{News, Pacer};
use crate::train::Trainer;

/// Off a terminal, a progress line is written at most this often (and when the work ends).
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes, how it is drawn, and when the last plain line was written.
pub struct Reporter {
    /// Drawn only on a terminal; hidden otherwise (its position still counts).
    bar: ProgressBar,
    terminal: bool,
    quiet: bool,
    /// What the plain lines and the bar start with (e.g. the job of a sweep or an experiment).
    prefix: Mutex<String>,
    last_plain: Mutex<Option<Instant>>,
}

impl Reporter {
    /// A reporter for steps (or jobs) of work, drawn as a bar where stderr is a terminal.
    pub fn new() -> Reporter {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix}[{bar:24}] {pos}/{len} {msg}")
                .expect("a valid progress template")
                .progress_chars("#> ");
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        Reporter { bar, terminal, quiet: false, prefix: Mutex::new(String::new()), last_plain: Mutex::new(None) }
    }

    /// A reporter that writes nothing.
    pub fn quiet() -> Reporter {
        let (prefix, last_plain) = (Mutex::new(String::new()), Mutex::new(None));
        Reporter { bar: ProgressBar::hidden(), terminal: false, quiet: true, prefix, last_plain }
    }

    /// What the following progress belongs to, written before the bar and at the start of plain lines.
    pub fn set_prefix(&self, prefix: &str) {
        let shown = if prefix.is_empty() { String::new() } else { format!("{prefix}  ") };
        self.bar.set_prefix(shown.clone());
        *self.prefix.lock().unwrap_or_else(|e| e.into_inner()) = shown;
    }

    /// A line that stays (after the prefix): above the bar on a terminal, as it is otherwise.
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let line = format!("{}{text}", self.prefix.lock().unwrap_or_else(|e| e.into_inner()));
        if self.terminal {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Run `f` (which writes to the terminal itself) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// `position` of `length` done, with a message after the count. Off a terminal, a plain line when
    /// [`PLAIN_EVERY`] has passed since the last one, and at the end.
    pub fn progress(&self, position: usize, length: usize, message: impl FnOnce() -> String) {
        if self.quiet {
            return;
        }
        if self.terminal {
            self.bar.set_length(length as u64);
            self.bar.set_position(position as u64);
            self.bar.set_message(message());
            return;
        }
        let mut last = self.last_plain.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let due = last.is_none_or(|t| now.duration_since(t) >= PLAIN_EVERY) || position >= length;
        if due {
            *last = Some(now);
            let prefix = self.prefix.lock().unwrap_or_else(|e| e.into_inner()).clone();
            eprintln!("{prefix}{position}/{length} {}", message());
        }
    }

    /// Clear the bar (the lines written stay), ready for the next piece of work.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        self.bar.reset();
        *self.last_plain.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new()
    }
}

/// Steps of the network in training, and each new stage of a procedure as a line.
impl Pacer for Reporter {
    async fn on_step(&mut self, t: &mut Trainer) -> Result<(), TrainError> {
        self.progress(t.step(), t.total_steps(), || "steps".into());
        Ok(())
    }

    fn news(&mut self, news: News) {
        if let News::Stage(stage) = news {
            self.line(&stage);
        }
    }
}
