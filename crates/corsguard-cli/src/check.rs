//! `corsguard check`: lint a policy file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::paint::Paint;
use crate::{render, USAGE};

/// Lint a policy file: every error and warning, with file:line:col and a help line
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage error or unreadable file.\n\n\
Without --profile every profile is checked (CORSGUARD_PROFILE is deliberately ignored here, so \
CI always checks production too).\n\nExamples:\n  \
corsguard check examples/corsguard.toml\n  \
corsguard check corsguard.toml --profile production\n  \
corsguard check corsguard.toml --format sarif > corsguard.sarif"
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
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let source = match std::fs::read_to_string(&args.config) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.config.display());
            return ExitCode::from(USAGE);
        }
    };
    let diags = corsguard::check_toml(&source, args.profile.as_deref());
    let path = args.config.display().to_string();
    match args.format {
        Format::Human => print!("{}", render::human(&diags, &source, &path, Paint::stdout())),
        Format::Json => println!("{}", render::json(&diags)),
        Format::Sarif => println!("{:#}", render::sarif(&diags, &path)),
    }
    ExitCode::from(u8::from(diags.has_errors()))
}
