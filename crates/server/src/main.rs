//! `polyhome`, a polyproto home server.

mod config;
mod identity;

use std::path::PathBuf;

use actix_web::{web, App, HttpServer};
use anyhow::Context;
use clap::{Parser, Subcommand};
use polyhome_api::{AppState, Federation, Passwords, Settings};
use polyhome_store::{Backend, Store};

use crate::config::{Config, KEYS_HELP};

#[derive(Parser)]
#[command(name = "polyhome", version, about = "polyhome, a polyproto home server", after_help = KEYS_HELP)]
struct Cli {
    /// TOML configuration file (see below for its keys).
    #[arg(
        long,
        short,
        global = true,
        env = "POLYHOME_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default when no command is given).
    Serve,
    /// Server administration on the configured database.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make an actor of this server an administrator (who may rotate the server key).
    Grant {
        /// The actor's name (or federation ID on this server's domain).
        actor: String,
    },
    /// Take administrator rights away from an actor.
    Revoke {
        /// The actor's name (or federation ID on this server's domain).
        actor: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve) | None => serve(cli.config),
        Some(Command::Admin(command)) => admin(cli.config, command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain, one line, without a backtrace: this is for operators.
            eprintln!("polyhome: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Config::load(config_file.as_deref())?;
    let config = loaded.config;
    init_logging(&config.log);
    for key in &loaded.unknown_keys {
        tracing::warn!(key = %key, "unknown configuration key ignored");
    }

    let domain = config.domain()?;
    let passwords = Passwords::new(config.password_hashing).map_err(anyhow::Error::msg)?;
    let federation = Federation::new(config.federation.clone()).map_err(anyhow::Error::msg)?;
    let url = config.database_url();
    let store = open_store(&config)?;
    let identity = identity::load_or_create(
        &store,
        &domain,
        config.certificates.server_cert_lifetime_secs,
    )?;
    let settings = Settings {
        domain: domain.clone(),
        passwords,
        cert_lifetime_secs: config.certificates.id_cert_lifetime_secs,
        server_cert_lifetime_secs: config.certificates.server_cert_lifetime_secs,
        challenges: config.challenges,
        federation,
        rotation_requires_password: config.certificates.rotation_requires_password,
    };
    let state = web::Data::new(AppState::new(store, settings, identity));

    let body_limit = config.body_limit_bytes;
    let workers = config.workers;
    let listen = config.listen;
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(polyhome_api::protocol_error_bodies())
                .wrap(
                    actix_web::middleware::Logger::new("%r %s %b %Dms")
                        .log_target("polyhome::http"),
                )
                .configure(polyhome_api::configure(state.clone(), body_limit))
        });
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server
            .bind(listen)
            .with_context(|| format!("binding {listen}"))?;
        for addr in server.addrs() {
            tracing::info!(
                "polyhome listening on http://{addr} for domain {domain}, database {} ({})",
                config::redact_url(&url),
                Backend::of_url(&url)
            );
        }
        server.run().await.context("running the HTTP server")
    })
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if Backend::of_url(&url) == Backend::Sqlite {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    Store::open(&url, config.database_pool_size)
        .with_context(|| format!("opening database {}", config::redact_url(&url)))
}

/// `polyhome admin grant|revoke <actor>`
fn admin(config_file: Option<PathBuf>, command: AdminCommand) -> anyhow::Result<()> {
    let config = Config::load(config_file.as_deref())?.config;
    let domain = config.domain()?;
    let (actor, grant) = match &command {
        AdminCommand::Grant { actor } => (actor, true),
        AdminCommand::Revoke { actor } => (actor, false),
    };
    let name = match actor.split_once('@') {
        Some((name, d)) if d.eq_ignore_ascii_case(domain.as_str()) => name,
        Some(_) => anyhow::bail!("{actor} is not on this server's domain {domain}"),
        None => actor.as_str(),
    };
    let name: polyhome_proto::ActorName = name.parse()?;
    let store = open_store(&config)?;
    if !store.set_admin(name.as_str(), grant)? {
        anyhow::bail!("no actor {name}@{domain} is registered here");
    }
    let now = if grant { "now" } else { "no longer" };
    println!("{name}@{domain} is {now} an administrator");
    Ok(())
}

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
