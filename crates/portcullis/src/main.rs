//! The `portcullis` binary: `serve`, `check` and `demo-upstream`. Thin: it
//! wires the configuration to the data plane and handles signals.

#![forbid(unsafe_code)]

mod admin_client;
mod audit_log;
mod demo;
mod host_admin;
mod keys;
mod management;
mod secret;
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
    /// Admin accounts on this host, and the admin API for scripts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Verify or export the tamper-evident audit log.
    AuditLog {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Seal values for the configuration file with the master key.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Run only the demo upstream: it answers every request with a small JSON echo.
    DemoUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create the first admin account (refused once any exists). Prints a
    /// one-time password unless --password-stdin is given.
    Bootstrap {
        /// The configuration file (for the store's location).
        #[arg(long, short)]
        config: PathBuf,
        /// The account name.
        #[arg(long)]
        name: String,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a one-time password for an account, unlock it and end its sessions.
    ResetPassword {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The account name.
        #[arg(long)]
        name: String,
        /// Read the new password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Send one request to the admin API, e.g. `call GET /admin/v1/consumers`.
    Call {
        #[command(flatten)]
        api: ApiArgs,
        /// HTTP method.
        method: String,
        /// Path under the API, e.g. /admin/v1/consumers.
        path: String,
        /// A JSON body.
        #[arg(long)]
        data: Option<String>,
    },
}

/// Where the admin API is and how to authenticate to it.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The admin API's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9180")]
    url: String,
    /// The environment variable holding an automation token (pca_…).
    #[arg(long, default_value = "PORTCULLIS_ADMIN_TOKEN")]
    token_env: String,
    /// A PEM CA bundle to verify an https admin listener.
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Prove the hash chain and signed checkpoints intact; name the first
    /// broken or missing event. Exit 1 when broken.
    Verify {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Write the events as JSON lines.
    Export {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Seal standard input; print the enc:v1: value.
    Encrypt {
        /// The master passphrase: env:NAME, file:PATH or cmd:PROGRAM ARGS.
        #[arg(long, default_value = "env:PORTCULLIS_MASTER_PASSPHRASE")]
        passphrase: String,
    },
    /// Open an enc:v1: value read from standard input.
    Decrypt {
        /// The master passphrase source.
        #[arg(long, default_value = "env:PORTCULLIS_MASTER_PASSPHRASE")]
        passphrase: String,
    },
    /// Re-seal every enc:v1: value in a configuration file under a new passphrase.
    RotateMaster {
        /// The configuration file to rewrite.
        #[arg(long, short)]
        config: PathBuf,
        /// The current passphrase source.
        #[arg(long)]
        old: String,
        /// The new passphrase source.
        #[arg(long)]
        new: String,
    },
}

/// Loads the configuration's management settings, printing every error.
fn management(config: &std::path::Path) -> anyhow::Result<portcullis_admin::ManagementSettings> {
    let metrics = portcullis_proxy::metrics::Metrics::default();
    portcullis_config::load(config, 1, &metrics).map(|loaded| loaded.management).map_err(|err| {
        eprintln!("{err}");
        anyhow::anyhow!("the configuration has {} error(s)", err.errors.len())
    })
}

/// Runs `work` on a small runtime and turns its outcome into an exit code.
fn run_async<F>(work: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<bool>>,
{
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(work));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn password_source(stdin: bool) -> host_admin::PasswordSource {
    if stdin { host_admin::PasswordSource::Stdin } else { host_admin::PasswordSource::Generated }
}

fn admin(command: AdminCommand) -> ExitCode {
    run_async(async move {
        match command {
            AdminCommand::Bootstrap { config, name, password_stdin } => {
                host_admin::bootstrap(&management(&config)?, &name, &password_source(password_stdin)).await?;
            }
            AdminCommand::ResetPassword { config, name, password_stdin } => {
                host_admin::reset_password(&management(&config)?, &name, &password_source(password_stdin)).await?;
            }
            AdminCommand::Call { api, method, path, data } => {
                let client = admin_client::Client { url: api.url, token_env: api.token_env, ca: api.ca };
                client.call(&method.to_ascii_uppercase(), &path, data).await?;
            }
        }
        Ok(true)
    })
}

fn audit(command: AuditCommand) -> ExitCode {
    run_async(async move {
        match command {
            AuditCommand::Verify { config } => audit_log::verify(&management(&config)?).await,
            AuditCommand::Export { config, after, output } => {
                let settings = management(&config)?;
                let count = match output {
                    Some(path) => {
                        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                        audit_log::export(&settings, after, &mut file).await?
                    }
                    None => audit_log::export(&settings, after, &mut std::io::stdout().lock()).await?,
                };
                eprintln!("Exported {count} event(s).");
                Ok(true)
            }
        }
    })
}

fn secret(command: SecretCommand) -> ExitCode {
    let result = match command {
        SecretCommand::Encrypt { passphrase } => secret::encrypt(&passphrase),
        SecretCommand::Decrypt { passphrase } => secret::decrypt(&passphrase),
        SecretCommand::RotateMaster { config, old, new } => {
            // The management settings say where the signing key and the store
            // are; a file that holds only values (no full configuration) has none.
            let metrics = portcullis_proxy::metrics::Metrics::default();
            let management = portcullis_config::load(&config, 1, &metrics).ok().map(|loaded| loaded.management);
            return run_async(async move {
                secret::rotate_master(&config, management.as_ref(), &old, &new).await.map(|()| true)
            });
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            ExitCode::FAILURE
        }
    }
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
        Command::Admin { command } => admin(command),
        Command::AuditLog { command } => audit(command),
        Command::Secret { command } => secret(command),
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
