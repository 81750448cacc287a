//! The `portcullis` binary: `serve`, `check` and `demo-upstream`. Thin: it
//! wires the configuration to the data plane and handles signals.

#![forbid(unsafe_code)]

mod demo;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: an API security gateway.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also run the built-in demo upstream on this address (for the quick start).
        #[arg(long, value_name = "ADDR")]
        demo_upstream: Option<SocketAddr>,
    },
    /// Validate a configuration file and print every error; exit 1 if any.
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run only the demo upstream: it answers every request with a small JSON echo.
    DemoUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => {
            let metrics = portcullis_proxy::metrics::Metrics::default();
            match portcullis_config::load(&config, 1, &metrics) {
                Ok(_) => {
                    println!("{}: ok", config.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("{err}");
                    eprintln!("{} error(s); the configuration was not accepted", err.errors.len());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { config, demo_upstream } => match serve::run(&config, demo_upstream) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("portcullis: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::DemoUpstream { listen } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let result = runtime.map_err(anyhow::Error::from).and_then(|rt| {
                rt.block_on(async {
                    let listener = tokio::net::TcpListener::bind(listen).await?;
                    eprintln!("demo upstream listening on {}", listener.local_addr()?);
                    demo::serve(listener).await;
                    Ok(())
                })
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("portcullis: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
