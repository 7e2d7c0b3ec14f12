//! The `rocketmq-exporter` binary: parse flags, then hand over to the library. Errors are
//! reported here, at the edge, with their context chain.

use clap::Parser;
use rocketmq_exporter::cli::{Cli, Command};
use rocketmq_exporter::{commands, daemon};

/// Blocks under 1 KiB from mimalloc, the others from glibc (see `memory`).
#[global_allocator]
static GLOBAL: rocketmq_exporter::memory::SplitAlloc = rocketmq_exporter::memory::SplitAlloc;

fn main() {
    rocketmq_exporter::memory::tune_allocator();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = runtime.block_on(async {
        let result = match &cli.command {
            Command::Serve(a) => {
                daemon::init_logging(&a.log);
                daemon::run_serve(a).await.map(|_| 0)
            }
            Command::Demo(a) => {
                daemon::init_logging(&a.serve.log);
                commands::demo(a).await.map(|_| 0)
            }
            Command::Status(a) => {
                daemon::init_logging(&a.log);
                commands::status(a).await
            }
            Command::Drain(a) => {
                daemon::init_logging(&a.log);
                commands::drain(a).await
            }
            Command::Restore(a) => {
                daemon::init_logging(&a.log);
                commands::restore(a).await
            }
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                commands::EXIT_ERROR
            }
        }
    });
    std::process::exit(code);
}
