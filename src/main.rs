//! The `kagi` binary: parse the command line, set up logging, run the command.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = kagi::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(kagi::cli::run(cli))
}
