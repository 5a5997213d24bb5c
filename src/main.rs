//! Thin entry point: parse the command line, run it, turn failures into a message and exit 1.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = authlink::cli::Cli::parse();
    match authlink::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("authlink: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
