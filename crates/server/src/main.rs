//! `polyhome`, a polyproto home server.

mod config;

use std::path::{Path, PathBuf};

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
    #[command(after_help = KEYS_HELP)]
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
    return_large_buffers_to_the_os();
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
    init_logging(&config.log)?;
    for key in &loaded.unknown_keys {
        tracing::warn!(key = %key, "unknown configuration key ignored");
    }

    let domain = config.domain()?;
    let passwords = Passwords::new(config.password_hashing).map_err(anyhow::Error::msg)?;
    let federation = Federation::new(config.federation.clone()).map_err(anyhow::Error::msg)?;
    let url = config.database_url();
    let store = open_store(&config)?;
    let identity = polyhome_api::identity::load_or_create(
        &store,
        &domain,
        config.certificates.server_cert_lifetime_secs,
        polyhome_api::unix_now(),
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
    let deadline = std::time::Duration::from_secs(config.request_timeout_secs);
    let workers = config.workers;
    let listen = config.listen;
    let access_log = tracing::enabled!(target: "polyhome::http", tracing::Level::INFO);
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(polyhome_api::keep_identity_current(state.clone()));
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(polyhome_api::protocol_error_bodies())
                .wrap_fn(move |req, srv| polyhome_api::within_deadline(deadline, req, srv))
                // The access log costs a formatted line per request even when its level is off,
                // so it is only installed when it will be written.
                .wrap(actix_web::middleware::Condition::new(
                    access_log,
                    // Method and path without the query string, where a client might have put
                    // a password.
                    actix_web::middleware::Logger::new("%{method}xi %U %s %b %Dms")
                        .custom_request_replace("method", |req| req.method().to_string())
                        .log_target("polyhome::http"),
                ))
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

/// argon2 takes its memory (19 MiB by default) afresh for every hash. glibc raises its mmap
/// threshold once such a buffer is freed and from then on keeps them in per-thread arenas, so a
/// burst of logins would leave hundreds of MiB resident. A fixed threshold keeps large buffers
/// mmapped, and freeing one returns it to the system.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it runs first in main, before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if Backend::of_url(&url) == Backend::Sqlite {
        // data_dir holds the default file; a database_url of its own puts it elsewhere, and
        // then only a missing directory for it is made.
        if config.database_url.is_empty() {
            prepare_data_dir(&config.data_dir)?;
        } else if let Some(dir) = Path::new(&url)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            if !dir.exists() {
                prepare_data_dir(dir)?;
            }
        }
        prepare_sqlite_file(Path::new(&url));
    }
    // The database's own error may quote the URL or a part of it that holds a password.
    Store::open(&url, config.database_pool_size).map_err(|e| {
        anyhow::anyhow!(
            "opening database {}: {}",
            config::redact_url(&url),
            config::redact_url_in(&format!("{e:#}"), &url)
        )
    })
}

/// Creates the data directory readable by this user alone: the database in it holds the
/// server's private key. An existing directory that others can read is reported.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading data directory {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is open to other users, and its database holds the server's private key; consider chmod 700"
        );
    }
    Ok(())
}

/// Creates a missing SQLite database file readable by this user alone (SQLite gives its journal
/// files the same mode), wherever `database_url` puts it; an existing one that others can read is
/// reported. Failures are left to the database to report when it opens the file.
fn prepare_sqlite_file(file: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !file.exists() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file);
    } else if let Ok(meta) = std::fs::metadata(file) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                mode = format!("{:o}", mode & 0o777),
                "the database file is open to other users, and it holds the server's private key; consider chmod 600"
            );
        }
    }
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
    let url = config.database_url();
    if Backend::of_url(&url) == Backend::Sqlite && !Path::new(&url).is_file() {
        anyhow::bail!(
            "there is no database at {url}: start the server once, and give this command the \
             server's configuration (--config FILE or its POLYHOME_* variables)"
        );
    }
    let store = open_store(&config)?;
    if !store.set_admin(name.as_str(), grant)? {
        anyhow::bail!("no actor {name}@{domain} is registered here");
    }
    let now = if grant { "now" } else { "no longer" };
    println!("{name}@{domain} is {now} an administrator");
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` if set, else by the `log` setting; a filter that
/// does not parse stops the start rather than logging less than asked for.
fn init_logging(configured: &str) -> anyhow::Result<()> {
    let (source, filter) = match std::env::var("RUST_LOG") {
        Ok(filter) => ("RUST_LOG", filter),
        Err(_) => ("log", configured.to_owned()),
    };
    let filter =
        crate::config::log_filter(&filter).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}
