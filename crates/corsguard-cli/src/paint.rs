//! ANSI colours on a terminal, plain text everywhere else (and when `NO_COLOR` is set).

use std::io::IsTerminal;

/// Colours for one output stream.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Colours when standard output is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Paint {
        Paint { on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    /// Colours when standard error is a terminal and `NO_COLOR` is unset.
    pub fn stderr() -> Paint {
        Paint { on: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    /// No colours.
    #[cfg(test)]
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn red(self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.wrap("1;33", text)
    }

    pub fn green(self, text: &str) -> String {
        self.wrap("1;32", text)
    }

    pub fn blue(self, text: &str) -> String {
        self.wrap("1;34", text)
    }

    pub fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }
}
