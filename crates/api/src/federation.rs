//! Talking to other home servers: fetching their root certificates and asking them whether an
//! actor's ID-Cert is still the valid one of its session (core §4.1.1).
//!
//! Outbound requests are bounded: a timeout, a response size limit, no redirects, and — unless
//! `allow_private_addresses` — only public IP addresses, checked on every DNS answer, so that a
//! crafted ID-Cert cannot make this server fetch from its own network.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polyhome_certs::{parse_root_cert, ActorCert, RootCert};
use polyhome_proto::{DomainName, ErrorCode};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Settings for reaching other servers, from the `[federation]` configuration table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FederationSettings {
    /// Base URL per domain, instead of `https://<domain>`.
    pub hosts: HashMap<String, String>,
    /// Allow requests to loopback, private and other non-public addresses.
    pub allow_private_addresses: bool,
    /// Whole-request timeout, seconds.
    pub request_timeout_secs: u64,
    /// Largest response body read from another server, bytes.
    pub max_response_bytes: usize,
    /// How long another server's root certificate is kept, seconds.
    pub cert_cache_secs: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSettings {
            hosts: HashMap::new(),
            allow_private_addresses: false,
            request_timeout_secs: 10,
            max_response_bytes: 1024 * 1024,
            cert_cache_secs: 3600,
        }
    }
}

/// Root certificates fetched from other home servers, each with the moment it was fetched.
type RootCache = HashMap<DomainName, Vec<(Arc<RootCert>, Instant)>>;

/// Most root certificates kept per domain (a server has one per rotation of its key), and most
/// domains kept: the cache holds what callers of identify make this server fetch, so it is
/// bounded whatever they send.
const MAX_ROOTS_PER_DOMAIN: usize = 8;
const MAX_DOMAINS: usize = 4096;

/// Adds `root`, just fetched, to `domain`'s cached roots: a certificate already there is
/// replaced (so refetching the same one grows nothing), and the oldest go first when a bound is
/// reached.
fn keep_root(roots: &mut RootCache, domain: &DomainName, root: Arc<RootCert>, ttl: Duration) {
    if !roots.contains_key(domain) && roots.len() >= MAX_DOMAINS {
        roots.retain(|_, entries| {
            entries.retain(|(_, fetched)| fetched.elapsed() < ttl);
            !entries.is_empty()
        });
        if roots.len() >= MAX_DOMAINS {
            let oldest = roots
                .iter()
                .min_by_key(|(_, entries)| entries.iter().map(|(_, at)| *at).max())
                .map(|(domain, _)| domain.clone());
            if let Some(oldest) = oldest {
                roots.remove(&oldest);
            }
        }
    }
    let entries = roots.entry(domain.clone()).or_default();
    entries.retain(|(kept, _)| kept.der() != root.der());
    entries.push((root, Instant::now()));
    if entries.len() > MAX_ROOTS_PER_DOMAIN {
        entries.remove(0);
    }
}

/// An HTTP client for other home servers, with a cache of their root certificates.
pub struct Federation {
    settings: FederationSettings,
    /// `settings.hosts` by domain, in the domain's lower-case form that lookups use.
    hosts: HashMap<DomainName, String>,
    client: reqwest::Client,
    roots: Mutex<RootCache>,
}

impl Federation {
    pub fn new(settings: FederationSettings) -> Result<Self, String> {
        let mut hosts = HashMap::new();
        for (domain, url) in &settings.hosts {
            let parsed =
                reqwest::Url::parse(url).map_err(|e| format!("federation.hosts.{domain}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "federation.hosts.{domain}: {url} is not an http(s) URL"
                ));
            }
            let name: DomainName = domain
                .parse()
                .map_err(|_| format!("federation.hosts: {domain:?} is not a domain"))?;
            if hosts
                .insert(name, url.trim_end_matches('/').to_owned())
                .is_some()
            {
                return Err(format!(
                    "federation.hosts: {domain:?} is given twice (domains are not case-sensitive)"
                ));
            }
        }
        let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("polyhome/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PublicOnly {
                allow_private: settings.allow_private_addresses,
            }))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Federation {
            settings,
            hosts,
            client,
            roots: Mutex::new(HashMap::new()),
        })
    }

    /// Where `domain`'s server is reached: its `[federation.hosts]` entry, or `https://<domain>`.
    fn base_url(&self, domain: &DomainName) -> String {
        match self.hosts.get(domain) {
            Some(url) => url.clone(),
            None => format!("https://{domain}"),
        }
    }

    /// GETs `path` (with its query) from `domain`'s server and reads a JSON answer of at most
    /// `max_response_bytes`. `Ok(None)` for a 404.
    async fn get_json<T: DeserializeOwned>(
        &self,
        domain: &DomainName,
        path: &str,
    ) -> Result<Option<T>, ApiError> {
        let url = format!("{}{path}", self.base_url(domain));
        let unreachable = |why: String| {
            tracing::warn!(%domain, %url, %why, "home server request failed");
            ApiError::new(
                ErrorCode::HomeServerUnreachable,
                format!("the home server of {domain}: {why}"),
            )
        };
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| unreachable(format!("bad URL {url}: {e}")))?;
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = parsed.host() {
            let ip: IpAddr = parsed
                .host_str()
                .unwrap_or_default()
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| unreachable(format!("bad address in {url}")))?;
            if !self.settings.allow_private_addresses && !is_public(ip) {
                return Err(unreachable(format!("{ip} is not a public address")));
            }
        }
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| self.request_error(domain, e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(unreachable(format!("answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.request_error(domain, e))?
        {
            if body.len() + chunk.len() > self.settings.max_response_bytes {
                return Err(unreachable(format!(
                    "answer larger than {} bytes",
                    self.settings.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| unreachable(format!("unreadable answer: {e}")))
    }

    fn request_error(&self, domain: &DomainName, err: reqwest::Error) -> ApiError {
        tracing::warn!(%domain, error = %err, "home server request failed");
        if err.is_timeout() {
            self.timeout(domain)
        } else {
            let mut cause: &dyn std::error::Error = &err;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            ApiError::new(
                ErrorCode::HomeServerUnreachable,
                format!("the home server of {domain}: {cause}"),
            )
        }
    }

    /// Fetches `domain`'s root certificate valid at `at`, and checks it is a root ID-Cert for
    /// that domain.
    async fn fetch_root(&self, domain: &DomainName, at: u64) -> Result<Arc<RootCert>, ApiError> {
        let pem: String = self
            .get_json(domain, &format!("/p2core/key/server?timestamp={at}"))
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::IdCertNotSignedByHomeServer,
                    format!("the home server of {domain} has no certificate for the time {at}"),
                )
            })?;
        let root =
            parse_root_cert(&pem).map_err(|e| ApiError::new(e.code(), format!("{domain}: {e}")))?;
        if root.domain() != domain {
            return Err(ApiError::new(
                ErrorCode::HomeServerUnreachable,
                format!("{domain} answered with a certificate for {}", root.domain()),
            ));
        }
        let root = Arc::new(root);
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        keep_root(&mut roots, domain, root.clone(), self.ttl());
        Ok(root)
    }

    /// How long a fetched root certificate is kept.
    fn ttl(&self) -> Duration {
        Duration::from_secs(self.settings.cert_cache_secs)
    }

    /// Checks that `cert` was signed by its home server: with a cached root certificate of
    /// that server if one verifies it, else with the one the server names for the time the
    /// certificate was issued (fetched once).
    async fn check_issued_by_home(&self, cert: &ActorCert) -> Result<(), ApiError> {
        let domain = cert.issuer_domain().clone();
        let cached: Vec<Arc<RootCert>> = {
            let ttl = self.ttl();
            let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
            let entries = roots.entry(domain.clone()).or_default();
            entries.retain(|(_, fetched)| fetched.elapsed() < ttl);
            entries.iter().map(|(root, _)| root.clone()).collect()
        };
        if cached
            .iter()
            .any(|root| cert.verify_issued_by(root).is_ok())
        {
            return Ok(());
        }
        let root = self.fetch_root(&domain, cert.not_before()).await?;
        cert.verify_issued_by(&root)
            .map_err(|e| ApiError::new(e.code(), e.to_string()))
    }

    /// The home server's whole word on `cert`: [`Federation::check_issued_by_home`], then
    /// [`Federation::standing`], together within one `request_timeout_secs`, so that an identify
    /// waits on the home server no longer than that however its requests are spread.
    pub async fn vouch(&self, cert: &ActorCert) -> Result<Standing, ApiError> {
        let limit = Duration::from_secs(self.settings.request_timeout_secs.max(1));
        let word = async {
            self.check_issued_by_home(cert).await?;
            self.standing(cert).await
        };
        match tokio::time::timeout(limit, word).await {
            Ok(answer) => answer,
            Err(_) => {
                let domain = cert.issuer_domain();
                tracing::warn!(%domain, "home server did not answer in time");
                Err(self.timeout(domain))
            }
        }
    }

    fn timeout(&self, domain: &DomainName) -> ApiError {
        ApiError::new(
            ErrorCode::HomeServerTimeout,
            format!(
                "the home server of {domain} did not answer within {} s",
                self.settings.request_timeout_secs
            ),
        )
    }

    /// Asks the home server whether `cert` is, now, the valid ID-Cert of its session.
    async fn standing(&self, cert: &ActorCert) -> Result<Standing, ApiError> {
        let fid = cert.fid();
        let path = format!(
            "/p2core/key/actor/{}?session_id={}",
            encode(&fid.to_string()),
            encode(cert.session_id().as_str())
        );
        let listed: Vec<String> = match self.get_json(cert.issuer_domain(), &path).await? {
            Some(listed) => listed,
            None => return Ok(Standing::Ended),
        };
        let ours = cert.der();
        Ok(Standing::of(listed.iter().map(|pem| der_of_pem(pem)), ours))
    }
}

/// What a home server says of an ID-Cert of one of its actors' sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It is the session's valid ID-Cert.
    Valid,
    /// The session goes on with another ID-Cert (rotated, §7.1.3): foreign servers keep their
    /// session and wait to be told the new certificate.
    Replaced,
    /// The session has no valid ID-Cert (revoked, §7.1.4), or the home server does not know the
    /// actor: foreign servers end their session too.
    Ended,
}

impl Standing {
    /// The standing of the certificate `ours` (DER) given the DER of the certificates its home
    /// server lists as valid for its session (`None` for one it could not read).
    pub fn of(listed: impl Iterator<Item = Option<Vec<u8>>>, ours: &[u8]) -> Standing {
        let mut any = false;
        for der in listed {
            if der.as_deref() == Some(ours) {
                return Standing::Valid;
            }
            any = true;
        }
        if any {
            Standing::Replaced
        } else {
            Standing::Ended
        }
    }
}

fn der_of_pem(pem: &str) -> Option<Vec<u8>> {
    polyhome_certs::parse_actor_cert(pem)
        .ok()
        .map(|c| c.der().to_vec())
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A DNS resolver that drops non-public addresses (unless allowed) and fails if none remain.
struct PublicOnly {
    allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared,
/// documentation, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(domain: &DomainName, serial: u8) -> Arc<RootCert> {
        let identity = polyhome_certs::ServerIdentity::generate(
            domain,
            polyhome_certs::Serial::random(),
            1_000 + u64::from(serial),
            2_000_000_000,
        )
        .unwrap();
        Arc::new(parse_root_cert(identity.cert_pem()).unwrap())
    }

    #[test]
    fn the_root_cache_keeps_each_certificate_once_and_stays_bounded() {
        let ttl = Duration::from_secs(3600);
        let domain: DomainName = "alpha.test".parse().unwrap();
        let mut roots = RootCache::new();
        let root = root_of(&domain, 0);
        for _ in 0..5 {
            keep_root(&mut roots, &domain, root.clone(), ttl);
        }
        assert_eq!(roots[&domain].len(), 1);

        let rotated: Vec<_> = (1..=10).map(|i| root_of(&domain, i)).collect();
        for r in &rotated {
            keep_root(&mut roots, &domain, r.clone(), ttl);
        }
        let kept: Vec<&[u8]> = roots[&domain].iter().map(|(r, _)| r.der()).collect();
        let newest: Vec<&[u8]> = rotated[2..].iter().map(|r| r.der()).collect();
        assert_eq!(kept, newest, "the newest {MAX_ROOTS_PER_DOMAIN} are kept");

        for i in 0..MAX_DOMAINS + 3 {
            let other: DomainName = format!("d{i}.test").parse().unwrap();
            keep_root(&mut roots, &other, root.clone(), ttl);
        }
        assert_eq!(roots.len(), MAX_DOMAINS);
        assert!(roots.contains_key(&"d4098.test".parse().unwrap()));
        assert!(
            !roots.contains_key(&domain),
            "the least recently fetched domain went first"
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn hosts_must_be_http_urls() {
        let mut settings = FederationSettings::default();
        settings.hosts.insert("a.test".into(), "ftp://x".into());
        assert!(Federation::new(settings.clone()).is_err());
        settings
            .hosts
            .insert("a.test".into(), "http://127.0.0.1:1".into());
        let federation = Federation::new(settings).unwrap();
        assert_eq!(
            federation.base_url(&"a.test".parse().unwrap()),
            "http://127.0.0.1:1"
        );
        assert_eq!(
            federation.base_url(&"b.test".parse().unwrap()),
            "https://b.test"
        );
    }

    #[test]
    fn hosts_are_found_whatever_the_case_of_their_domain() {
        let mut settings = FederationSettings::default();
        settings
            .hosts
            .insert("Alpha.Test".into(), "http://127.0.0.1:1/".into());
        let federation = Federation::new(settings.clone()).unwrap();
        assert_eq!(
            federation.base_url(&"ALPHA.test".parse().unwrap()),
            "http://127.0.0.1:1"
        );
        settings
            .hosts
            .insert("alpha.test".into(), "http://127.0.0.1:2".into());
        let twice = Federation::new(settings).err().unwrap();
        assert!(twice.contains("twice"), "{twice}");
    }
}
