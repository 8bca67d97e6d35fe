//! Reading a policy file for the one-shot commands, with the same messages and exit codes
//! everywhere: unreadable file → usage error (2), policy errors → rustc-style report (1).

use std::path::Path;
use std::process::ExitCode;

use corsguard::Policy;

use crate::paint::Paint;
use crate::{render, USAGE};

/// The file's text and its policy for `profile`, or the exit code after reporting why not.
pub fn load(path: &Path, profile: Option<&str>) -> Result<(String, Policy), ExitCode> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        ExitCode::from(USAGE)
    })?;
    match Policy::from_toml(&source, profile) {
        Ok(policy) => Ok((source, policy)),
        Err(diags) => {
            eprint!("{}", render::human(&diags, &source, &path.display().to_string(), Paint::stderr()));
            eprintln!("error: the policy has errors; fix them first (see `corsguard check`)");
            Err(ExitCode::FAILURE)
        }
    }
}
