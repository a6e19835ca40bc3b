//! `lhc-ops` binary: parse the command line, run the subcommand, exit with its code.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = lhc_ops::cli::Cli::parse();
    match lhc_ops::cli::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("lhc-ops: {e:#}");
            std::process::exit(2);
        }
    }
}
