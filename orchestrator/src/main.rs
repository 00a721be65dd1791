//! `triad`: the command line users run.
//!
//! Architecture and conventions: docs/design.md.

mod cli;
mod progress;
mod study;

use clap::Parser;

fn main() {
    triad_lm::runtime::tune_allocator();
    let args = cli::Cli::parse();
    init_tracing();
    if let Err(e) = cli::run(args) {
        // One clear line (with its causes), no backtrace: the message names file, line or field.
        let line = triad_lm::runtime::error_line(e.chain().map(|c| c.to_string()));
        eprintln!("error: {line}");
        std::process::exit(1);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
