//! Colours for the human output. Whether to colour is anstream's decision for the stream
//! (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`, `TERM=dumb` and whether it is a terminal, as
//! other command-line tools honour them); the styles are anstyle's.

use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};

/// Colours for one output stream.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Colours for standard output, as its environment asks.
    pub fn stdout() -> Paint {
        Paint::when(AutoStream::choice(&std::io::stdout()))
    }

    /// Colours for standard error, as its environment asks.
    pub fn stderr() -> Paint {
        Paint::when(AutoStream::choice(&std::io::stderr()))
    }

    fn when(choice: ColorChoice) -> Paint {
        Paint { on: matches!(choice, ColorChoice::Always | ColorChoice::AlwaysAnsi) }
    }

    /// Whether this stream gets colours.
    pub fn is_on(self) -> bool {
        self.on
    }

    /// No colours.
    #[cfg(test)]
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    fn wrap(self, style: Style, text: &str) -> String {
        if self.on {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    pub fn red(self, text: &str) -> String {
        self.wrap(AnsiColor::Red.on_default().bold(), text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.wrap(AnsiColor::Yellow.on_default().bold(), text)
    }

    pub fn green(self, text: &str) -> String {
        self.wrap(AnsiColor::Green.on_default().bold(), text)
    }

    pub fn blue(self, text: &str) -> String {
        self.wrap(AnsiColor::Blue.on_default().bold(), text)
    }

    pub fn bold(self, text: &str) -> String {
        self.wrap(Style::new().bold(), text)
    }
}
