//! `corsguard serve`: the command line of the gateway ([`corsguard_gateway`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard_gateway::{Launch, LogFormat};

/// Run the gateway: a reverse proxy that enforces the policy in front of your API
#[derive(Args, Debug)]
#[command(after_help = "\
Flags override the [gateway] keys of the policy file. Profile: --profile, then CORSGUARD_PROFILE, \
then default_profile, then the file's only profile.

The policy file is reloaded on SIGHUP and whenever its contents change; an invalid file is \
refused (diagnostics in the log) and the current policy keeps serving. SIGTERM or SIGINT stop \
accepting connections and let in-flight requests finish within shutdown_timeout.

What never reaches the upstream: preflights (answered here), WebSocket handshakes from origins \
the policy does not allow (403 websocket-origin-not-allowed), requests with two Host headers or \
an unreadable body (400). Upgrades other than WebSocket (h2c) are stripped, and a 101 nobody \
asked for is a 502. A pooled upstream connection that sent anything or closed while idle is \
never reused. See docs/gateway.md.

[gateway] keys: listen, upstream, admin (/metrics, /healthz, /readyz; absent = off), \
mode (\"enforce\" or \"report\": log and count decisions, change nothing), tls_cert, tls_key, \
connect_timeout (5 s), header_timeout (15 s), upstream_timeout (60 s), shutdown_timeout (25 s), \
upstream_max_connections (1024), upstream_client (\"direct\": bodiless requests on the gateway's \
own exchange, the default; \"hyper\": every request through hyper's client).

Exit status: 0 after a clean shutdown, 1 when the policy has errors or the gateway cannot \
start, 2 on usage errors or an unreadable file.

Examples:
  corsguard serve --config examples/corsguard.toml
  corsguard serve --config corsguard.toml --profile staging --upstream http://127.0.0.1:3000
  CORSGUARD_PROFILE=development corsguard serve --listen 127.0.0.1:8080 --log-format json
  kill -HUP $(pidof corsguard)      # reload the policy now")]
pub struct ServeArgs {
    /// Policy file (with an optional [gateway] table)
    #[arg(long, short = 'c', value_name = "FILE", default_value = "corsguard.toml")]
    pub config: PathBuf,
    /// Profile (default: CORSGUARD_PROFILE, then the file's default_profile, then its only profile)
    #[arg(long, value_name = "NAME", env = "CORSGUARD_PROFILE")]
    pub profile: Option<String>,
    /// Address to serve on, e.g. 127.0.0.1:8080 (overrides [gateway] listen)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Backend URL, e.g. http://127.0.0.1:3000 (overrides [gateway] upstream)
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Log format; `human` is coloured on a terminal
    #[arg(long, value_enum, default_value_t = LogFormatArg::Human, value_name = "FORMAT")]
    pub log_format: LogFormatArg,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// One readable line per event.
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(format: LogFormatArg) -> Self {
        match format {
            LogFormatArg::Human => LogFormat::Human,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Runs `corsguard serve`.
pub fn run(args: ServeArgs) -> ExitCode {
    let mut launch = Launch::new(args.config);
    launch.profile = args.profile;
    launch.listen = args.listen;
    launch.upstream = args.upstream;
    launch.log_format = args.log_format.into();
    corsguard_gateway::run(launch)
}
