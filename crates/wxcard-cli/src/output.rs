//! Standard output: JSON with `--json`, text otherwise.

use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON on standard output.
    pub json: bool,
    /// No progress display.
    pub quiet: bool,
}

impl Output {
    /// Prints `value` as JSON, or the text `text` makes.
    pub fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("wxcard: could not encode the result as JSON: {e}"),
            }
        } else {
            print!("{}", text());
        }
    }
}
