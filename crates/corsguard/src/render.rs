//! Diagnostics as rustc-style text, through annotate-snippets: the code, the message, the
//! source line with the span underlined, the profile and the help. `corsguard check` prints
//! it; the Node and Python packages put it in their `PolicyError`'s message.

use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};

use crate::Diagnostics;

/// `diags` found in `source` (the file's text), read from `path`, then a summary line;
/// `styled` adds terminal colours.
///
/// ```
/// let source = "[profiles.p]\norigins = [\"https://app.example.com/\"]\n";
/// let diags = corsguard::Policy::from_toml(source, None).unwrap_err();
/// let text = corsguard::render::human(&diags, source, "corsguard.toml", false);
/// assert!(text.contains("error[origin-has-path]"), "{text}");
/// assert!(text.contains("corsguard.toml:2:"), "{text}");
/// ```
pub fn human(diags: &Diagnostics, source: &str, path: &str, styled: bool) -> String {
    let renderer = if styled { Renderer::styled() } else { Renderer::plain() };
    let mut out = String::new();
    for d in diags {
        let level = if d.is_error() { Level::ERROR } else { Level::WARNING };
        let title = level.primary_title(d.message.as_str()).id(d.code.as_str());
        let mut group = match &d.span {
            // A span that is not a range of the source (never produced, but the renderer must
            // not be handed one) is shown without its source line.
            Some(span) if source.get(span.clone()).is_some() => title.element(
                Snippet::source(source).path(path).annotation(AnnotationKind::Primary.span(span.clone())),
            ),
            _ => title.element(Origin::path(path)),
        };
        if let Some(profile) = &d.profile {
            group = group.element(Level::NOTE.message(format!("profile: {profile}")));
        }
        group = group.element(Level::HELP.message(d.help.as_str()));
        out += &renderer.render(&[group]);
        out.push_str("\n\n");
    }
    let summary = format!("{} error(s), {} warning(s)", diags.errors(), diags.warnings());
    if styled {
        let colour = if diags.has_errors() { anstyle::AnsiColor::Red } else { anstyle::AnsiColor::Green };
        let style = anstyle::Style::new().fg_color(Some(colour.into())).bold();
        out += &format!("{style}{summary}{style:#}");
    } else {
        out += &summary;
    }
    out.push('\n');
    out
}
