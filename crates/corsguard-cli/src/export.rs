//! `corsguard export`: the command line of the exporter ([`corsguard_export`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard_export::{export, ExportOptions};

use crate::{policy_file, USAGE};

/// Exit status when the target cannot express the whole policy and `--allow-partial` is absent.
const PARTIAL: u8 = 3;

/// Compile a policy into nginx, HAProxy or Envoy configuration
#[derive(Args)]
#[command(after_help = "Output goes to stdout:\n  \
nginx    an http-context snippet (map blocks + one server): include it inside http { }\n  \
haproxy  frontend + backend sections: append them after your global and defaults sections\n  \
envoy    a static_resources YAML fragment with the envoy.filters.http.cors filter and routes\n\n\
Profile: --profile, else CORSGUARD_PROFILE, else the file's default_profile, else its only \
profile. --listen and --upstream default to the file's [gateway] listen and upstream, then \
127.0.0.1:8080 and http://127.0.0.1:3000.\n\n\
Exit status: 0 written; 1 the policy has errors; 2 usage error or unreadable file; 3 the target \
cannot enforce part of the policy (the output is still written, with a PARTIAL comment saying \
what is missing; pass --allow-partial to accept it and exit 0).\n\n\
Examples:\n  \
corsguard export examples/corsguard.toml --format nginx > /etc/nginx/conf.d/corsguard.conf\n  \
corsguard export corsguard.toml --format haproxy --profile staging --listen 0.0.0.0:8080 \\\n      \
--upstream http://10.0.0.5:3000 >> /etc/haproxy/haproxy.cfg\n  \
corsguard export corsguard.toml --format envoy --allow-partial > corsguard-envoy.yaml")]
pub struct ExportArgs {
    /// Policy file
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// Target proxy
    #[arg(long, value_enum)]
    format: Format,
    /// Profile (default: CORSGUARD_PROFILE, then the file's default_profile, then its only profile)
    #[arg(long, value_name = "NAME", env = "CORSGUARD_PROFILE")]
    profile: Option<String>,
    /// Address the proxy listens on, IP:PORT (default: [gateway] listen, then 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Backend URL, http(s)://host[:port] (default: [gateway] upstream, then http://127.0.0.1:3000)
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Exit 0 even when the target cannot enforce part of the policy (still noted in the output)
    #[arg(long)]
    allow_partial: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Nginx,
    Haproxy,
    Envoy,
}

impl From<Format> for corsguard_export::Format {
    fn from(format: Format) -> Self {
        match format {
            Format::Nginx => corsguard_export::Format::Nginx,
            Format::Haproxy => corsguard_export::Format::Haproxy,
            Format::Envoy => corsguard_export::Format::Envoy,
        }
    }
}

/// Runs `corsguard export`.
pub fn run(args: ExportArgs) -> ExitCode {
    let (source, policy) = match policy_file::load(&args.config, args.profile.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let format = corsguard_export::Format::from(args.format);
    let mut options = ExportOptions::new(format);
    options.listen = args.listen;
    options.upstream = args.upstream;
    let exported = match export(&policy, &source, &args.config.display().to_string(), &options) {
        Ok(exported) => exported,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    print!("{}", exported.text);
    if exported.partial.is_empty() {
        return ExitCode::SUCCESS;
    }
    let name = format.name();
    for item in &exported.partial {
        eprintln!("warning: {name} cannot enforce: {item}");
    }
    if args.allow_partial {
        eprintln!("warning: partial export accepted (--allow-partial)");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: the {name} configuration enforces only part of the policy (see the PARTIAL \
             lines above and in the output); pass --allow-partial to accept it, or use \
             `corsguard serve` or another --format"
        );
        ExitCode::from(PARTIAL)
    }
}
