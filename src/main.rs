use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = crier::cli::Cli::parse();
    match crier::app::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
