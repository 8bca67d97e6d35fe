//! `corsguard demo`: the command line of [`corsguard_demo`].

use std::process::ExitCode;

use clap::Args;
use corsguard_demo::Demo;
use corsguard_gateway::{init_logging, LogFormat};
use tracing::{error, info};

/// Start a sample API, a front end on another origin and the gateway between them
#[derive(Args, Debug)]
#[command(after_help = "\
Open the page URL it prints in a browser: a live table shows each request the page tries, \
whether the browser let the page read the answer, the policy's reason code and whether the \
request reached the API. The terminal shows the gateway's log: one line per refused request.

The policy is examples/demo.toml (built in). Everything listens on 127.0.0.1 only.

Examples:
  corsguard demo
  corsguard demo --page-port 9000 --gateway-port 9080 --foreign-port 9001
  corsguard demo --gateway-port 0        # any free port")]
pub struct DemoArgs {
    /// Port of the sample front end, http://127.0.0.1:PORT (0 = any free port)
    #[arg(long, default_value_t = 8000, value_name = "PORT")]
    pub page_port: u16,
    /// Port of the gateway, http://localhost:PORT (0 = any free port)
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    pub gateway_port: u16,
    /// Port of the untrusted page, http://localhost:PORT (0 = any free port)
    #[arg(long, default_value_t = 8001, value_name = "PORT")]
    pub foreign_port: u16,
}

/// `corsguard demo`.
pub fn run(args: DemoArgs) -> ExitCode {
    init_logging(LogFormat::Human);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let demo = match Demo::start(args.page_port, args.gateway_port, args.foreign_port).await {
            Ok(demo) => demo,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "\ncorsguard demo is running (Ctrl-C to stop)\n\n  \
             open this page     {page}\n  \
             gateway            {gateway}  (policy: examples/demo.toml, profile development)\n  \
             sample API         {api}  (behind the gateway)\n  \
             untrusted origin   {foreign}  (embedded in the page)\n\n  \
             try it from a terminal too:\n    \
             curl -i -X OPTIONS {gateway}/api/items/1 -H 'Origin: {origin}' \\\n      \
             -H 'Access-Control-Request-Method: DELETE'\n",
            page = demo.page_url,
            gateway = demo.gateway_url,
            api = demo.api_url,
            foreign = demo.foreign_url,
            origin = demo.page_url.trim_end_matches('/'),
        );
        let _ = tokio::signal::ctrl_c().await;
        info!("stopping the demo");
        demo.stop().await;
        ExitCode::SUCCESS
    })
}
