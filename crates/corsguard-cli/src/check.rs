//! `corsguard check`: lint a policy file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use corsguard::LintCode;
use corsguard_gateway::settings::Settings;

use crate::paint::Paint;
use crate::{render, USAGE};

/// Lint a policy file: every error and warning, with file:line:col and a help line
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage error or unreadable file \
(or an unknown code for --explain).\n\n\
Without --profile every profile is checked (CORSGUARD_PROFILE is deliberately ignored here, so \
CI always checks production too). The [gateway] table is checked as `corsguard serve` would \
read it, so whatever serve refuses, check refuses first.\n\nExamples:\n  \
corsguard check examples/corsguard.toml\n  \
corsguard check corsguard.toml --profile production\n  \
corsguard check corsguard.toml --format sarif > corsguard.sarif\n  \
corsguard check --explain wildcard-with-credentials    # what a code means and what to write"
)]
pub struct CheckArgs {
    /// Policy file to check
    #[arg(default_value = "corsguard.toml")]
    config: PathBuf,
    /// Check only this profile (default: all of them)
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print the long explanation of a lint code instead of checking a file
    #[arg(long, value_name = "CODE")]
    explain: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

pub fn run(args: CheckArgs) -> ExitCode {
    if let Some(code) = &args.explain {
        return explain_code(code);
    }
    let source = match std::fs::read_to_string(&args.config) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.config.display());
            return ExitCode::from(USAGE);
        }
    };
    let mut diags = corsguard::check_toml(&source, args.profile.as_deref());
    diags.extend(Settings::check(&source));
    diags.locate(&source);
    let path = args.config.display().to_string();
    match args.format {
        Format::Human => print!("{}", render::human(&diags, &source, &path, Paint::stdout())),
        Format::Json => println!("{}", render::json(&diags)),
        Format::Sarif => println!("{:#}", render::sarif(&diags, &path)),
    }
    ExitCode::from(u8::from(diags.has_errors()))
}

/// `check --explain CODE`: the code's severity and long explanation, as `rustc --explain`.
fn explain_code(text: &str) -> ExitCode {
    match LintCode::from_code(text.trim()) {
        Some(code) => {
            print!("{code} ({})\n\n{}", code.severity().as_str(), code.explanation());
            ExitCode::SUCCESS
        }
        None => {
            let codes: Vec<&str> = LintCode::ALL.iter().map(|c| c.as_str()).collect();
            eprintln!("error: `{text}` is not a corsguard lint code\n\nthe codes are: {}", codes.join(", "));
            ExitCode::from(USAGE)
        }
    }
}
