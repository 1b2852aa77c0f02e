//! Settings: defaults, then the TOML file, then `POLYHOME_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use polyhome_api::{ChallengeSettings, FederationSettings, PasswordHashing};
use polyhome_proto::DomainName;
use polyhome_store::Backend;
use serde::{Deserialize, Serialize};

/// Every key, with its default and meaning. Printed by `polyhome --help`; README.md repeats it.
pub const KEYS_HELP: &str = "\
Configuration (TOML file given with --config; every key can also be set as an environment
variable POLYHOME_<KEY>, nested keys joined with '__', e.g. POLYHOME_PASSWORD_HASHING__MEMORY_KIB):

  domain = \"localhost\"            domain this server is home to: federation IDs are name@domain
  listen = \"127.0.0.1:8080\"       address and port to listen on (port 0: any free port)
  data_dir = \"./data\"             directory for the SQLite database; created if missing
  database_url = \"\"               empty: SQLite file <data_dir>/polyhome.db;
                                  postgres://user:pass@host/db selects PostgreSQL;
                                  other values are a SQLite file's path (other URLs and
                                  libpq key=value strings are refused)
  database_pool_size = 8          most database connections kept open (PostgreSQL: at least 2)
  body_limit_bytes = 65536        largest request body accepted (413 above it)
  request_timeout_secs = 60       a request whose body has not arrived by then gets 408
                                  (at most 3600)
  workers = 0                     HTTP worker threads; 0 = one per available core; at most 512
  log = \"info\"                    log filter (RUST_LOG syntax), e.g. \"polyhome=debug,info\"

  [password_hashing]              argon2id parameters for new password hashes
  memory_kib = 19456              memory per hash, KiB (19 MiB; at most 1 GiB)
  iterations = 2                  passes over that memory, 1 to 64
  parallelism = 1                 lanes, 1 to 64 (memory_kib at least 8 per lane)

  [certificates]
  id_cert_lifetime_secs = 2592000      lifetime of issued ID-Certs (30 days), cut short by
                                       the server certificate's own expiry
  server_cert_lifetime_secs = 31536000 lifetime of a new server root certificate (365 days;
                                       both lifetimes at most 100 years)
  rotation_requires_password = true    POST /p2core/session/idcert needs the password as
                                       second factor (revoking an ID-Cert always does)

  [challenges]                    challenge strings for foreign actors (GET /p2core/challenge)
  length = 64                     characters, 32 to 256
  lifetime_secs = 300             how long one may be used (at most 86400)
  max_outstanding = 100000        most handed out, unused and unexpired, at one time (429)

  [federation]                    reaching other home servers
  allow_private_addresses = false allow requests to loopback and private addresses
  request_timeout_secs = 10       asking another server (all requests of one check) ends
                                  after this long (at most 3600)
  max_response_bytes = 1048576    largest answer read from another server (4096 to 64 MiB)
  cert_cache_secs = 3600          how long another server's root certificate is kept
                                  (0 = fetched for every check; at most 30 days)
  [federation.hosts]              base URL per domain instead of https://<domain>, e.g.
                                  \"alpha.test\" = \"http://127.0.0.1:8081\"
";

/// Words that start a libpq `key=value` connection string, which `database_url` does not read.
const LIBPQ_KEYWORDS: [&str; 12] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "service",
    "sslmode",
    "options",
    "application_name",
    "connect_timeout",
];

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
const CENTURY: u64 = 36_525 * DAY;
/// actix-web refuses to start more HTTP workers than this.
const MAX_WORKERS: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub domain: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_pool_size: u32,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub workers: usize,
    pub log: String,
    pub password_hashing: PasswordHashing,
    pub certificates: Certificates,
    pub challenges: ChallengeSettings,
    pub federation: FederationSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificates {
    pub id_cert_lifetime_secs: u64,
    pub server_cert_lifetime_secs: u64,
    pub rotation_requires_password: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "localhost".into(),
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            data_dir: "./data".into(),
            database_url: String::new(),
            database_pool_size: 8,
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 60,
            workers: 0,
            log: "info".into(),
            password_hashing: PasswordHashing::default(),
            certificates: Certificates::default(),
            challenges: ChallengeSettings::default(),
            federation: FederationSettings::default(),
        }
    }
}

impl Default for Certificates {
    fn default() -> Self {
        Certificates {
            id_cert_lifetime_secs: 30 * 24 * 3600,
            server_cert_lifetime_secs: 365 * 24 * 3600,
            rotation_requires_password: true,
        }
    }
}

/// A loaded configuration and the keys it did not know (reported as warnings once logging runs).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub unknown_keys: Vec<String>,
}

impl Config {
    /// Defaults, overridden by `file` (if given), overridden by `POLYHOME_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
        Config::load_with_env(file, polyhome_env())
    }

    /// [`Config::load`] with the environment given as a map (tests pass their own).
    fn load_with_env(
        file: Option<&Path>,
        vars: config::Map<String, String>,
    ) -> anyhow::Result<Loaded> {
        let mut builder = config::Config::builder()
            .add_source(config::Config::try_from(&Config::default()).context("default settings")?);
        if let Some(file) = file {
            if !file.is_file() {
                bail!("configuration file {} does not exist", file.display());
            }
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        let mut value: serde_json::Value = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| {
                // A syntax error quotes the line, which may hold a database password.
                anyhow::anyhow!(
                    "reading the configuration: {}",
                    redact_secrets(&e.to_string())
                )
            })?;
        for (name, text) in vars {
            override_from_env(&mut value, &name, text)?;
        }

        let mut unknown_keys = Vec::new();
        let mut track = serde_path_to_error::Track::new();
        let config: Config = serde_ignored::deserialize(
            serde_path_to_error::Deserializer::new(value, &mut track),
            |path| unknown_keys.push(path.to_string()),
        )
        .map_err(|e| anyhow::anyhow!("invalid configuration value for `{}`: {e}", track.path()))?;
        config.check()?;
        Ok(Loaded {
            config,
            unknown_keys,
        })
    }

    fn check(&self) -> anyhow::Result<()> {
        self.domain()?;
        log_filter(&self.log).map_err(|e| anyhow::anyhow!("log: {e}"))?;
        let url = self.database_url();
        let postgres = Backend::of_url(&url) == Backend::Postgres;
        // Neither refusal repeats the value: it may hold a password.
        if postgres {
            let rest = url.split_once("://").map_or("", |(_, rest)| rest);
            let at = rest.find('@');
            if rest.matches('@').count() > 1 || at.is_some_and(|at| rest[..at].contains('/')) {
                bail!(
                    "database_url: write an @ or / in the user name or password as %40 or %2F \
                     (PostgreSQL reads the user part up to the first @, and not past a /)"
                );
            }
        } else if !self.database_url.is_empty() {
            let lower = url.to_ascii_lowercase();
            let conninfo = url.contains('=')
                && (url.contains(char::is_whitespace)
                    || LIBPQ_KEYWORDS.iter().any(|k| {
                        lower
                            .strip_prefix(k)
                            .is_some_and(|v| v.trim_start().starts_with('='))
                    }));
            // A URL missing a slash ("postgres:/u:pw@h") is no file name either.
            let credentials = lower.starts_with("postgres") && lower.contains(':')
                || url
                    .find(':')
                    .is_some_and(|colon| url[colon..].contains('@'));
            if lower.contains("://") || lower.contains("password") || conninfo || credentials {
                bail!(
                    "database_url must be a postgres:// (or postgresql://) URL, or the path of a \
                     SQLite file; key=value connection strings and other URLs are not read"
                );
            }
        }
        if self.database_pool_size < 1 || (postgres && self.database_pool_size < 2) {
            bail!(
                "database_pool_size must be at least 1, and at least 2 with PostgreSQL: making or \
                 loading the identity key holds one connection for a lock while another works"
            );
        }
        if self.body_limit_bytes < 1024 {
            bail!("body_limit_bytes must be at least 1024");
        }
        if !(32..=256).contains(&self.challenges.length) {
            bail!("challenges.length must be 32 to 256 (core §4.2)");
        }
        if self.challenges.max_outstanding == 0 {
            bail!("challenges.max_outstanding must be at least 1");
        }
        let durations = [
            // (key, value, least, most)
            (
                "certificates.id_cert_lifetime_secs",
                self.certificates.id_cert_lifetime_secs,
                1,
                CENTURY,
            ),
            (
                "certificates.server_cert_lifetime_secs",
                self.certificates.server_cert_lifetime_secs,
                1,
                CENTURY,
            ),
            (
                "challenges.lifetime_secs",
                self.challenges.lifetime_secs,
                1,
                DAY,
            ),
            ("request_timeout_secs", self.request_timeout_secs, 1, HOUR),
            (
                "federation.request_timeout_secs",
                self.federation.request_timeout_secs,
                1,
                HOUR,
            ),
            (
                "federation.cert_cache_secs",
                self.federation.cert_cache_secs,
                0,
                30 * DAY,
            ),
        ];
        for (key, secs, least, most) in durations {
            if !(least..=most).contains(&secs) {
                bail!("{key} must be {least} to {most} seconds");
            }
        }
        if !(4096..=64 * 1024 * 1024).contains(&self.federation.max_response_bytes) {
            bail!("federation.max_response_bytes must be 4096 to 67108864 (64 MiB)");
        }
        if self.workers > MAX_WORKERS {
            bail!("workers must be at most {MAX_WORKERS} (0 = one per available core)");
        }
        for domain in self.federation.hosts.keys() {
            domain
                .parse::<DomainName>()
                .with_context(|| format!("federation.hosts: {domain:?} is not a domain"))?;
        }
        Ok(())
    }

    pub fn domain(&self) -> anyhow::Result<DomainName> {
        self.domain
            .parse()
            .with_context(|| format!("domain {:?} is not a valid domain name", self.domain))
    }

    /// The database URL, with the SQLite default filled in.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            self.data_dir
                .join("polyhome.db")
                .to_string_lossy()
                .into_owned()
        } else {
            self.database_url.clone()
        }
    }
}

/// Sets the key that the variable `name` (`POLYHOME_<KEY>`, nested keys joined with `__`) names
/// to `text`. The value is read as the key's type: a number or a boolean where the default is one
/// (if it does not read as one, it stays text and is refused with the key's name), text
/// otherwise, so that `POLYHOME_DATA_DIR=2024` is the directory `2024`.
fn override_from_env(
    settings: &mut serde_json::Value,
    name: &str,
    text: String,
) -> anyhow::Result<()> {
    use serde_json::Value;
    let Some(key) = name.strip_prefix("POLYHOME_").filter(|k| !k.is_empty()) else {
        return Ok(());
    };
    let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
    let (leaf, tables) = path.split_last().expect("split yields at least one part");
    let mut node = settings;
    for table in tables {
        node = match node {
            Value::Object(map) => map
                .entry(table.clone())
                .or_insert_with(|| Value::Object(Default::default())),
            _ => bail!("{name}: {} is not a table of settings", table),
        };
    }
    let Value::Object(map) = node else {
        bail!("{name}: {} is not a table of settings", tables.join("."));
    };
    // A key the file wrote in other letter case (a [federation.hosts] domain) is replaced.
    let existing = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(leaf))
        .cloned()
        .and_then(|k| map.remove(&k));
    let value = match existing {
        Some(Value::Number(_)) => text
            .trim()
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .unwrap_or(Value::String(text)),
        Some(Value::Bool(_)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        _ => Value::String(text),
    };
    map.insert(leaf.clone(), value);
    Ok(())
}

/// `POLYHOME_*` variables that are settings: the ones the command line reads itself
/// (`POLYHOME_CONFIG`) and those of the test suite (`POLYHOME_TEST_*`) are left out.
fn polyhome_env() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("POLYHOME_"))
        .filter(|(k, _)| k != "POLYHOME_CONFIG" && !k.starts_with("POLYHOME_TEST_"))
        .collect()
}

/// `text`, a message that may quote configuration (a syntax error shows the line), with every
/// line that may hold a password left out: one that mentions a password or `database_url`, or
/// holds a URL with a user part.
pub fn redact_secrets(text: &str) -> String {
    text.lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            let url_with_user = lower
                .split_once("://")
                .is_some_and(|(_, rest)| rest.contains('@'));
            // A quoted `database_url` line may spell its password with escapes.
            if lower.contains("password") || lower.contains("database_url") || url_with_user {
                "  (a line that may hold a password, not shown)"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The URL with any password replaced by `***`, for logs (see [`secret_spans`]).
pub fn redact_url(url: &str) -> String {
    let mut redacted = String::with_capacity(url.len());
    let mut from = 0;
    for span in secret_spans(url) {
        redacted.push_str(&url[from..span.start]);
        redacted.push_str("***");
        from = span.end;
    }
    redacted.push_str(&url[from..]);
    redacted
}

/// `text`, an error about the database at `url`, with `url` and the secrets in it replaced
/// wherever the text quotes them (libpq quotes what it cannot parse).
pub fn redact_url_in(text: &str, url: &str) -> String {
    let mut text = text.replace(url, &redact_url(url));
    for span in secret_spans(url)
        .into_iter()
        .filter(|span| !span.is_empty())
    {
        text = text.replace(&url[span], "***");
    }
    text
}

/// Where `url` holds secrets, in order: the user part's password, and the values of query
/// parameters whose name (percent-decoded) holds "password" (`password`, `sslpassword`). The
/// user part is read as libpq reads it: what precedes the first `@` after `://`, unless a `/`
/// comes first. A value that is no URL holds none.
fn secret_spans(url: &str) -> Vec<std::ops::Range<usize>> {
    let Some(rest) = url.find("://").map(|i| i + 3) else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    let mut after = rest;
    if let Some(at) = url[rest..].find(['@', '/']).map(|i| rest + i) {
        if url.as_bytes()[at] == b'@' {
            if let Some(colon) = url[rest..at].find(':') {
                spans.push(rest + colon + 1..at);
            }
            after = at;
        }
    }
    if let Some(query) = url[after..].find('?').map(|q| after + q + 1) {
        let mut start = query;
        for param in url[query..].split('&') {
            if let Some((key, _)) = param.split_once('=') {
                if percent_decoded(key)
                    .to_ascii_lowercase()
                    .contains("password")
                {
                    spans.push(start + key.len() + 1..start + param.len());
                }
            }
            start += param.len() + 1;
        }
    }
    spans
}

/// `text` with its `%XX` escapes decoded (bytes that are not UTF-8 become U+FFFD).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The log filter `filter` (RUST_LOG syntax) describes, or why it describes none.
pub fn log_filter(filter: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| {
        format!("{filter:?} is not a log filter ({e}); e.g. \"info\" or \"polyhome=debug,info\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_complete_and_known() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/polyhome.toml");
        let loaded = Config::load_with_env(Some(&example), Default::default()).unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        // Every key of the configuration appears in the example and in --help.
        let text = std::fs::read_to_string(&example).unwrap();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for (key, value) in defaults.as_object().unwrap() {
            let nested: Vec<String> = match value.as_object() {
                Some(inner) => inner
                    .iter()
                    .map(|(k, v)| {
                        if v.is_object() {
                            format!("[{key}.{k}]")
                        } else {
                            format!("{k} =")
                        }
                    })
                    .collect(),
                None => vec![format!("{key} =")],
            };
            for k in nested {
                assert!(text.contains(&k), "deploy/polyhome.toml lacks {k}");
                assert!(KEYS_HELP.contains(&k), "--help lacks {k}");
            }
        }
    }

    /// Loads the configuration from `file` (if any) and these `POLYHOME_*` variables alone.
    fn load(file: Option<&Path>, vars: &[(&str, &str)]) -> anyhow::Result<Loaded> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(file, vars)
    }

    /// The whole message of a refused configuration.
    fn refusal(file: Option<&Path>, vars: &[(&str, &str)]) -> String {
        format!("{:#}", load(file, vars).expect_err("refused"))
    }

    /// Runs `test` with a configuration file holding `contents`, removed afterwards.
    fn with_file<T>(name: &str, contents: &str, test: impl FnOnce(&Path) -> T) -> T {
        let dir = std::env::temp_dir().join(format!("polyhome-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("polyhome.toml");
        std::fs::write(&file, contents).unwrap();
        let result = test(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn out_of_range_values_are_refused_at_start() {
        for (key, value) in [
            ("POLYHOME_WORKERS", "513"),
            ("POLYHOME_FEDERATION__MAX_RESPONSE_BYTES", "0"),
            ("POLYHOME_CHALLENGES__LIFETIME_SECS", "0"),
            ("POLYHOME_CHALLENGES__LIFETIME_SECS", "9999999999999"),
            (
                "POLYHOME_CERTIFICATES__ID_CERT_LIFETIME_SECS",
                "9223372036854775807",
            ),
            ("POLYHOME_FEDERATION__REQUEST_TIMEOUT_SECS", "86400"),
        ] {
            let err = refusal(None, &[(key, value)]);
            assert!(err.contains("must be"), "{key}={value}: {err}");
        }
        load(
            None,
            &[
                ("POLYHOME_WORKERS", "512"),
                ("POLYHOME_CHALLENGES__LIFETIME_SECS", "86400"),
                ("POLYHOME_FEDERATION__CERT_CACHE_SECS", "0"),
            ],
        )
        .expect("values at the limits are accepted");
    }

    #[test]
    fn database_urls_that_are_neither_postgres_nor_a_file_are_refused_unrepeated() {
        for url in [
            "host=127.0.0.1 user=postgres password=secretpw dbname=x",
            "mysql://u:secretpw@h/db",
        ] {
            let err = refusal(None, &[("POLYHOME_DATABASE_URL", url)]);
            assert!(err.contains("database_url must be"), "{err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
        for url in [
            "host = 127.0.0.1 user = postgres password = secretpw dbname = x",
            "sslpassword=secretpw sslmode=require",
            "postgres user=postgres password=secretpw",
            "postgresql://postgres:secret@pw@127.0.0.1/db",
            "postgresql://postgres:secret/pw@127.0.0.1/db",
            "dbname=secret",
            "postgres:/postgres:secret@127.0.0.1/x",
            "postgres//postgres:secret@127.0.0.1/x",
        ] {
            let err = refusal(None, &[("POLYHOME_DATABASE_URL", url)]);
            assert!(err.contains("database_url"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        // A file whose name starts with "postgres" is SQLite: one connection will do.
        load(
            None,
            &[
                ("POLYHOME_DATABASE_URL", "postgres.db"),
                ("POLYHOME_DATABASE_POOL_SIZE", "1"),
            ],
        )
        .expect("postgres.db is a SQLite file");
        for url in [
            "postgresql://u:p%40ss@h/db",
            "/var/lib/polyhome/my db.sqlite",
            "a=b.db",
        ] {
            load(None, &[("POLYHOME_DATABASE_URL", url)]).expect(url);
        }
    }

    #[test]
    fn environment_values_take_the_type_of_their_key() {
        let config = load(
            None,
            &[
                ("POLYHOME_DATA_DIR", "2024"),
                ("POLYHOME_LOG", "3"),
                ("POLYHOME_DOMAIN", "007.example"),
                ("POLYHOME_WORKERS", " 4 "),
                ("POLYHOME_CERTIFICATES__ROTATION_REQUIRES_PASSWORD", "False"),
                (
                    "POLYHOME_FEDERATION__HOSTS__ALPHA.TEST",
                    "http://127.0.0.1:1",
                ),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(config.data_dir, PathBuf::from("2024"));
        assert_eq!(config.log, "3");
        assert_eq!(config.domain, "007.example");
        assert_eq!(config.workers, 4);
        assert!(!config.certificates.rotation_requires_password);
        assert_eq!(config.federation.hosts["alpha.test"], "http://127.0.0.1:1");

        let err = refusal(None, &[("POLYHOME_WORKERS", "many")]);
        assert!(err.contains("`workers`"), "{err}");
        assert!(load(None, &[("POLYHOME_DOMAIN__X", "1")]).is_err());
    }

    #[test]
    fn configuration_errors_do_not_repeat_passwords() {
        for line in [
            "database_url = \"postgres://u:SECRETpw@h/db\n",
            "database_url = \"host=h password=SECRETpw\n",
            "database_url = 'host = h user = u password = SECRETpw dbname = x\n",
            "database_url = \"postgres://u:SECRETpw\\u0040h/db\n",
        ] {
            let err = with_file("config-redact", line, |file| refusal(Some(file), &[]));
            assert!(err.contains("reading the configuration"), "{err}");
            assert!(!err.contains("SECRETpw"), "{err}");
        }
        assert_eq!(
            redact_secrets("error at line 2\n2 | url = \"postgres://u:pw@h/db\n  |  ^"),
            "error at line 2\n  (a line that may hold a password, not shown)\n  |  ^"
        );
    }

    #[test]
    fn an_environment_variable_replaces_a_host_the_file_wrote_in_other_case() {
        let hosts = "[federation.hosts]\n\"Alpha.Test\" = \"http://127.0.0.1:1\"\n";
        let config = with_file("config-hosts", hosts, |file| {
            load(
                Some(file),
                &[(
                    "POLYHOME_FEDERATION__HOSTS__ALPHA.TEST",
                    "http://127.0.0.1:2",
                )],
            )
        })
        .unwrap()
        .config;
        assert_eq!(config.federation.hosts.len(), 1);
        assert_eq!(config.federation.hosts["alpha.test"], "http://127.0.0.1:2");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("./data/polyhome.db"), "./data/polyhome.db");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://u:sec?ret@h/db?sslpassword=secret&x=1"),
            "postgres://u:***@h/db?sslpassword=***&x=1"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u"),
            "postgres://h/db?user=u"
        );
        assert_eq!(
            redact_url("postgres://h/db?pass%77ord=secret"),
            "postgres://h/db?pass%77ord=***"
        );
        let url = "postgres://u:SEC%zzRET@[::1/x?sslpassword=OTHER";
        let said = format!("bad token \"SEC%zzRET\" in \"{url}\"; \"OTHER\"");
        let redacted = redact_url_in(&said, url);
        assert!(
            !redacted.contains("SEC") && !redacted.contains("OTHER"),
            "{redacted}"
        );
    }

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_reported() {
        let dir = std::env::temp_dir().join(format!("polyhome-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "domain = \"example.com\"\nbogus = 1\n[certificates]\nid_cert_lifetime_secs = 60\n",
        )
        .unwrap();
        let loaded = Config::load_with_env(Some(&file), Default::default()).unwrap();
        assert_eq!(loaded.config.domain, "example.com");
        assert_eq!(loaded.config.certificates.id_cert_lifetime_secs, 60);
        assert_eq!(
            loaded.config.certificates.server_cert_lifetime_secs,
            365 * 24 * 3600
        );
        assert_eq!(loaded.unknown_keys, ["bogus"]);
        std::fs::write(
            &file,
            "database_url = \"postgres://h/db\"\ndatabase_pool_size = 1\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&file), Default::default()).unwrap_err();
        assert!(err.to_string().contains("at least 2"), "{err}");
        for (bad, why) in [
            ("domain = \"not a domain\"\n", "domain"),
            (
                "log = \"polyhome=loud\"\n",
                "log: \"polyhome=loud\" is not a log filter",
            ),
            ("[challenges]\nmax_outstanding = 0\n", "max_outstanding"),
        ] {
            std::fs::write(&file, bad).unwrap();
            let err = Config::load_with_env(Some(&file), Default::default()).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{bad}: {err:#}");
        }
        std::fs::write(&file, "log = \"polyhome=debug,info\"\n").unwrap();
        Config::load_with_env(Some(&file), Default::default()).unwrap();
        // The environment overrides the file; nested keys are joined with `__`.
        std::fs::write(&file, "domain = \"example.com\"\n").unwrap();
        let vars = [
            ("POLYHOME_DOMAIN", "env.example"),
            ("POLYHOME_PASSWORD_HASHING__ITERATIONS", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let loaded = Config::load_with_env(Some(&file), vars).unwrap();
        assert_eq!(loaded.config.domain, "env.example");
        assert_eq!(loaded.config.password_hashing.iterations, 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
