//! `corsguard`: lint a CORS policy, explain a decision, audit an endpoint, export it, run the
//! gateway. The command line only: it parses arguments, calls the library crates (`corsguard`,
//! `corsguard-gateway`, `corsguard-audit`, `corsguard-export`, `corsguard-demo`) and prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
mod audit;
mod audit_report;
mod check;
mod demo;
mod explain;
mod explain_live;
mod export;
mod flags;
mod paint;
mod policy_file;
mod render;
mod serve;

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
corsguard demo                                   # see a policy at work in your browser\n  \
corsguard check examples/corsguard.toml          # lint every profile\n  \
corsguard explain --config examples/corsguard.toml -X OPTIONS \\\n      \
-H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: PUT' /api/items\n  \
corsguard serve --config examples/corsguard.toml --upstream http://127.0.0.1:3000\n  \
corsguard audit http://127.0.0.1:3000/api/me -H 'Cookie: session=...' --fail-on high\n  \
corsguard export examples/corsguard.toml --format nginx > cors.conf\n\n\
Run `corsguard <COMMAND> --help` for each command's options and examples."
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
