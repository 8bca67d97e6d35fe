//! `corsguard`: lint a CORS policy, explain a decision, audit an endpoint, run the gateway.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod explain;
mod paint;
mod render;

/// Exit status for a usage error or an unreadable file.
const USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "corsguard",
    version,
    about = "Correct, safe-by-default CORS: lint a policy, explain any request, enforce it",
    long_about = "corsguard keeps CORS policies correct and safe: an allowlist of exact origins and \
safe patterns, checked up front, with a spec-exact decision for every request.\n\n\
CORS is not security: it decides which browser scripts may read responses; it does not stop \
requests from reaching your server. Keep authentication, authorization and input validation.",
    after_help = "Examples:\n  \
corsguard check examples/corsguard.toml\n  \
corsguard check examples/corsguard.toml --profile production --format json\n  \
corsguard explain --config examples/corsguard.toml -X OPTIONS \\\n      \
-H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: PUT' /api/items"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::CheckArgs),
    Explain(explain::ExplainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Explain(args) => explain::run(args),
    }
}
