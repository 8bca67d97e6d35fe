//! `corsguard`: lint a CORS policy, explain a decision, audit an endpoint, run the gateway.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use corsguard_cli::{demo, serve};

mod audit;
mod check;
mod explain;
mod export;
mod paint;
mod render;

// The gateway allocates a little per request on every worker thread; mimalloc's thread-local
// heaps make that cheaper than the system allocator under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Audit(audit::AuditArgs),
    Serve(serve::ServeArgs),
    Demo(demo::DemoArgs),
    Export(export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Export(args) => export::run(args),
    }
}
