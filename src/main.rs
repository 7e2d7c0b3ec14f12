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
        let log = match &cli.command {
            Command::Serve(a) => &a.log,
            Command::Demo(a) => &a.serve.log,
            Command::Status(a) => &a.log,
            Command::Drain(a) | Command::Restore(a) => &a.log,
        };
        daemon::init_logging(log);
        match rocketmq_exporter::fd_limit::raise() {
            Ok(r) if r.now > r.before => tracing::debug!(before = r.before, now = r.now, "raised the open-file limit"),
            Ok(r) => tracing::debug!(limit = r.now, hard = r.hard, "open-file limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
        let result = match &cli.command {
            Command::Serve(a) => daemon::run_serve(a).await.map(|_| 0),
            Command::Demo(a) => commands::demo(a).await.map(|_| 0),
            Command::Status(a) => commands::status(a).await,
            Command::Drain(a) => commands::drain(a).await,
            Command::Restore(a) => commands::restore(a).await,
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
