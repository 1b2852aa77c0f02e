//! Starting and stopping a `polyhome` process, and talking to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use polyhome_store::Store;
use serde_json::{json, Value};

/// The domain every test server serves.
pub const DOMAIN: &str = "polyhome.test";
/// The password the helpers register actors with.
pub const PASSWORD: &str = "correct horse battery staple";

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static ANNOUNCE: Once = Once::new();

enum Database {
    Sqlite,
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another server's database, which that server drops.
    Shared,
}

/// A running `polyhome` process with its own data directory and database.
pub struct TestServer {
    child: Option<Child>,
    pub base: String,
    /// The domain the server is home to.
    pub domain: String,
    dir: PathBuf,
    database: Database,
    database_url: String,
    extra_config: String,
    logs: Arc<Mutex<String>>,
    pub http: reqwest::blocking::Client,
}

/// An HTTP answer: status, headers and the body as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts a protocol error body with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "unexpected status; body {}", self.body);
        assert_eq!(
            self.body["errcode"],
            json!(status),
            "errcode; body {}",
            self.body
        );
        assert_eq!(
            self.body["error"],
            json!(error),
            "error; body {}",
            self.body
        );
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with("")
    }

    /// Starts a server whose configuration file has `extra_config` appended (TOML).
    pub fn start_with(extra_config: &str) -> TestServer {
        TestServer::start_for(DOMAIN, extra_config)
    }

    /// Starts a server home to `domain` whose configuration file has `extra_config` appended.
    pub fn start_for(domain: &str, extra_config: &str) -> TestServer {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let unique = format!("{}_{}_{}", std::process::id(), n, rand::random::<u32>());
        let dir = std::env::temp_dir().join(format!("polyhome-e2e-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (database, database_url) = match std::env::var("POLYHOME_TEST_POSTGRES_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                ANNOUNCE.call_once(|| eprintln!("e2e: running against PostgreSQL at {admin_url}"));
                let name = format!("polyhome_test_{unique}");
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let url = format!("{}/{name}", admin_url.trim_end_matches('/'));
                (Database::Postgres { admin_url, name }, url)
            }
            _ => {
                ANNOUNCE.call_once(|| eprintln!("e2e: running against SQLite"));
                (
                    Database::Sqlite,
                    dir.join("data")
                        .join("polyhome.db")
                        .to_string_lossy()
                        .into_owned(),
                )
            }
        };
        let mut server = TestServer {
            child: None,
            base: String::new(),
            domain: domain.to_owned(),
            dir,
            database,
            database_url,
            extra_config: extra_config.to_owned(),
            logs: Arc::new(Mutex::new(String::new())),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        server.spawn();
        server
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("polyhome.toml")
    }

    fn spawn(&mut self) {
        // Light password hashing keeps the suite fast, unless the test sets its own.
        let hashing = if self.extra_config.contains("[password_hashing]") {
            ""
        } else {
            "\n[password_hashing]\nmemory_kib = 64\niterations = 1\nparallelism = 1\n"
        };
        let config = format!(
            "domain = \"{}\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\nworkers = 2\n\
             {}\n{hashing}",
            self.domain,
            self.dir.join("data").display(),
            self.database_url,
            self.extra_config,
        );
        std::fs::write(self.config_path(), config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_polyhome"))
            .arg("serve")
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start polyhome");
        let stderr = child.stderr.take().unwrap();
        let logs = self.logs.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
                let mut logs = logs.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => self.base = format!("http://{addr}"),
            Err(_) => panic!("polyhome did not start; its log:\n{}", self.logs()),
        }
    }

    /// A second process serving the same domain from the same database (as several processes
    /// behind one load balancer would), with its own port and data directory.
    pub fn second_process(&self) -> TestServer {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "polyhome-e2e-{}_{n}_{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = TestServer {
            child: None,
            base: String::new(),
            domain: self.domain.clone(),
            dir,
            database: Database::Shared,
            database_url: self.database_url.clone(),
            extra_config: self.extra_config.clone(),
            logs: Arc::new(Mutex::new(String::new())),
            http: self.http.clone(),
        };
        server.spawn();
        server
    }

    /// Stops the process and starts it again on the same data and database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `polyhome <args> --config <this server's file>` and returns its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_polyhome"))
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .output()
            .expect("run polyhome")
    }

    /// On PostgreSQL, ends every connection the server holds to its database (as a database
    /// restart or a network cut would) and returns true; on SQLite, false.
    pub fn cut_database_connections(&self) -> bool {
        let Database::Postgres { admin_url, name } = &self.database else {
            return false;
        };
        let mut admin = diesel::PgConnection::establish(admin_url).unwrap();
        admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .unwrap();
        true
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A second handle on the server's database, to check what was (not) stored.
    pub fn store(&self) -> Store {
        Store::open(&self.database_url, 1).unwrap()
    }

    /// Rotates the server's identity key with an administrator's `token` and the test password
    /// as second factor (`PUT /p2core/key/server`); asserts 200 and returns the new root
    /// certificate.
    pub fn rotate_server_key(&self, token: &str) -> String {
        let rotated = self.send(
            self.http
                .put(self.url("/p2core/key/server"))
                .bearer_auth(token)
                .header("X-P2-Sensitive-Solution", PASSWORD),
        );
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        rotated.body.as_str().expect("a PEM string").to_owned()
    }

    /// The SQLite database file, or None on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<&Path> {
        matches!(self.database, Database::Sqlite).then(|| Path::new(&self.database_url))
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> Answer {
        let response = request.send().expect("request failed");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.http.post(self.url(path)).json(body))
    }

    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> Answer {
        self.send(
            self.http
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path)))
    }

    pub fn put_with_token(&self, path: &str, token: &str) -> Answer {
        self.send(self.http.put(self.url(path)).bearer_auth(token))
    }

    /// Registers `name` with [`PASSWORD`]; panics unless 201.
    pub fn register(&self, name: &str) -> String {
        let answer = self.post(
            "/p2core/register",
            &json!({"actor_name": name, "auth_payload": {"password": PASSWORD}}),
        );
        assert_eq!(answer.status, 201, "register {name}: {}", answer.body);
        answer.body["fid"].as_str().unwrap().to_owned()
    }

    pub fn trust(&self, name: &str, password: &str, csr: &str) -> Answer {
        self.post(
            "/p2core/session/trust",
            &json!({"actor_name": name, "csr": csr, "auth_payload": {"password": password}}),
        )
    }

    /// The server's current root certificate, PEM.
    pub fn server_cert(&self) -> String {
        let answer = self.get("/p2core/key/server");
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body.as_str().unwrap().to_owned()
    }

    /// How many ID-Certs the actor was ever issued.
    pub fn cert_count(&self, actor: &str) -> i64 {
        self.store().count_certs(actor).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if let Database::Postgres { admin_url, name } = &self.database {
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Seconds since the UNIX epoch, as the server counts them.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs `request(i)` for `i` in `0..n` on `n` threads at once and returns the statuses, after
/// asserting that every answer is either `ok` or the protocol error `refused`.
pub fn concurrently(
    n: usize,
    ok: u16,
    refused: (u16, &str),
    request: impl Fn(usize) -> Answer + Sync,
) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let request = &request;
                scope.spawn(move || {
                    let answer = request(i);
                    if answer.status != ok {
                        answer.assert_error(refused.0, refused.1);
                    }
                    answer.status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
