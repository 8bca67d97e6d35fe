//! Findings about a policy: a stable code, a severity, a message, a `help:` line and, when the
//! policy came from a file, the place in it.

use std::fmt;
use std::ops::Range;

use crate::lint_code::LintCode;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The policy is usable but probably not what was meant.
    Warning,
    /// The policy is refused.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding: a code, a message, a `help:` line and, when it came from a file, the place.
///
/// Built by corsguard's checks, or with [`Diagnostic::new`] by a program that validates a
/// section of the policy file of its own (the gateway's `[gateway]`), so that every finding
/// is reported the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The lint code, e.g. `wildcard-with-credentials`.
    pub code: LintCode,
    /// Error or warning.
    pub severity: Severity,
    /// One line: what is wrong.
    pub message: String,
    /// One line: what to do instead.
    pub help: String,
    /// The profile the finding applies to, when it depends on one.
    pub profile: Option<String>,
    /// Byte range in the policy file.
    pub span: Option<Range<usize>>,
    /// 1-based line and column of the span's start, filled in by [`Diagnostics::locate`].
    pub location: Option<(usize, usize)>,
}

impl Diagnostic {
    /// A finding with `code`'s severity.
    ///
    /// ```
    /// use corsguard::{Diagnostic, Diagnostics, LintCode};
    ///
    /// let text = "[gateway]\nmode = \"loud\"\n";
    /// let mut diags = Diagnostics::new();
    /// diags.push(
    ///     Diagnostic::new(LintCode::InvalidGatewayValue, "mode is `enforce` or `report`", "write mode = \"report\"")
    ///         .at(Some(17..23)),
    /// );
    /// diags.locate(text);
    /// let d = diags.iter().next().unwrap();
    /// assert!(d.is_error());
    /// assert_eq!(d.location, Some((2, 8)));
    /// ```
    pub fn new(code: LintCode, message: impl Into<String>, help: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            help: help.into(),
            profile: None,
            span: None,
            location: None,
        }
    }

    /// Attaches a place in the file.
    pub fn at(mut self, span: Option<Range<usize>>) -> Self {
        self.span = span;
        self
    }

    /// Attaches a profile name.
    pub fn in_profile(mut self, profile: Option<&str>) -> Self {
        self.profile = profile.map(str::to_owned);
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]: {}", self.severity.as_str(), self.code, self.message)?;
        if let Some((line, column)) = self.location {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

/// All findings about a policy, errors and warnings alike, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty set.
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Adds one finding, unless the same finding at the same place is already there (the same
    /// shared key is checked once per profile).
    pub fn push(&mut self, diagnostic: Diagnostic) {
        let duplicate = self.items.iter().any(|d| {
            d.code == diagnostic.code && d.span == diagnostic.span && d.message == diagnostic.message
        });
        if !duplicate {
            self.items.push(diagnostic);
        }
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }

    /// The findings.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.items.len() - self.errors()
    }

    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// True when there are no findings at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Fills in line and column from the policy text and sorts findings by position.
    pub fn locate(&mut self, source: &str) {
        for d in &mut self.items {
            d.location = d.span.as_ref().map(|s| line_column(source, s.start));
        }
        self.items.sort_by_key(|d| (d.location.is_some(), d.location));
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(s: &str, mut offset: usize) -> usize {
    offset = offset.min(s.len());
    while !s.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 999), (3, 1));
    }
}
