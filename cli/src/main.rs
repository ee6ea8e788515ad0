#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! The `sourcegate` binary: parses the command line, runs it, prints errors on stderr and
//! exits with the documented code (`sourcegate --help`).

use std::process::ExitCode;

use clap::Parser as _;
use sourcegate_cli::{Cli, CliError, error::exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Io)
        .and_then(|rt| rt.block_on(sourcegate_cli::run(cli)));
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        // `sourcegate watch | head -1`: the reader left, which is not an error.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            if json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("sourcegate: error: {e}");
                if let Some(h) = e.hint() {
                    eprintln!("  hint: {h}");
                }
            }
            ExitCode::from(e.exit_code())
        }
    }
}
