//! ID-CSRs made by the `openssl` command-line tool, the way an operator or client author would.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::DOMAIN;

/// Runs openssl with `args` in `dir`; panics with its output on failure. Returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A key pair in a file, made by `openssl genpkey`.
pub struct Key {
    pub dir: PathBuf,
    pub file: String,
}

impl Key {
    /// A new Ed25519 key.
    pub fn ed25519(dir: &Path, name: &str) -> Key {
        Key::generate(dir, name, &["-algorithm", "ed25519"])
    }

    /// A new ECDSA P-256 key (which polyhome must refuse).
    pub fn p256(dir: &Path, name: &str) -> Key {
        Key::generate(
            dir,
            name,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        )
    }

    fn generate(dir: &Path, name: &str, algorithm: &[&str]) -> Key {
        let file = format!("{name}.key.pem");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(algorithm);
        args.extend_from_slice(&["-out", &file]);
        openssl(dir, &args);
        Key {
            dir: dir.to_owned(),
            file,
        }
    }

    /// A CSR with this subject (`/CN=…/DC=…`) and `-addext` extensions, PEM.
    pub fn csr(&self, subject: &str, extensions: &[&str]) -> String {
        let mut args = vec!["req", "-new", "-key", &self.file, "-subj", subject, "-utf8"];
        for ext in extensions {
            args.extend_from_slice(&["-addext", ext]);
        }
        openssl(&self.dir, &args)
    }

    /// The CSR a well-behaved client sends for `actor` and `session`.
    pub fn actor_csr(&self, actor: &str, session: &str) -> String {
        self.csr(&actor_subject(actor, session), &ACTOR_EXTENSIONS)
    }

    /// The same for an actor of `domain`.
    pub fn actor_csr_on(&self, domain: &str, actor: &str, session: &str) -> String {
        self.csr(&actor_subject_on(domain, actor, session), &ACTOR_EXTENSIONS)
    }

    /// This key's Ed25519 signature over `message`, hex.
    pub fn sign_hex(&self, message: &str) -> String {
        std::fs::write(self.dir.join("message.txt"), message).unwrap();
        openssl(
            &self.dir,
            &[
                "pkeyutl",
                "-sign",
                "-inkey",
                &self.file,
                "-rawin",
                "-in",
                "message.txt",
                "-out",
                "message.sig",
            ],
        );
        let signature = std::fs::read(self.dir.join("message.sig")).unwrap();
        signature.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The extensions of an actor ID-CSR.
pub const ACTOR_EXTENSIONS: [&str; 2] = [
    "keyUsage=critical,digitalSignature",
    "basicConstraints=critical,CA:FALSE",
];

/// The subject of an actor ID-CSR on the test domain.
pub fn actor_subject(actor: &str, session: &str) -> String {
    actor_subject_on(DOMAIN, actor, session)
}

/// The subject of an actor ID-CSR on `domain`.
pub fn actor_subject_on(domain: &str, actor: &str, session: &str) -> String {
    let dcs: String = domain.split('.').map(|l| format!("/DC={l}")).collect();
    format!("/CN={actor}{dcs}/UID={actor}@{domain}/uniqueIdentifier={session}")
}

/// Writes `contents` to `dir/name` and returns the name.
pub fn write(dir: &Path, name: &str, contents: &str) -> String {
    std::fs::write(dir.join(name), contents).unwrap();
    name.to_owned()
}
