//! Federation IDs (§5), their two halves, and session IDs (§7.1.1.3).

use std::fmt;
use std::str::FromStr;

/// The longest actor name polyhome accepts, in bytes. The spec sets no limit; this one keeps
/// federation IDs readable and bounded in storage.
pub const ACTOR_NAME_MAX_LEN: usize = 64;

/// The longest domain polyhome accepts, as in DNS.
const DOMAIN_MAX_LEN: usize = 253;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("actor names are 1 to {ACTOR_NAME_MAX_LEN} characters of a-z, 0-9, '.', '_', '%', '+' and '-'")]
    ActorName,
    #[error("domains are dot-separated labels of a-z, 0-9 and '-', at most 253 characters")]
    Domain,
    #[error("federation IDs have the form actor@domain")]
    FederationId,
    #[error("session IDs are 1 to 32 IA5 (ASCII) characters")]
    SessionId,
}

/// The local part of a federation ID, in its canonical lower-case form.
///
/// §5 allows `[a-z0-9._%+-]+` and makes federation IDs case-insensitive, so upper-case input is
/// folded to lower case rather than refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorName(String);

impl ActorName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ActorName {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
        if s.is_empty() || s.len() > ACTOR_NAME_MAX_LEN || !s.chars().all(allowed) {
            return Err(IdError::ActorName);
        }
        Ok(ActorName(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for ActorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A home server's domain, lower case, as `[a-z0-9-]+(\.[a-z0-9-]+)*` of §5.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels of the domain, left to right: the order of the DC components of a
    /// distinguished name (§7.1.1.1).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl FromStr for DomainName {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if s.is_empty() || s.len() > DOMAIN_MAX_LEN || !s.split('.').all(label_ok) {
            return Err(IdError::Domain);
        }
        Ok(DomainName(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A federation ID, `actor@domain` (§5). Compared and displayed in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FederationId {
    pub actor: ActorName,
    pub domain: DomainName,
}

impl FederationId {
    pub fn new(actor: ActorName, domain: DomainName) -> Self {
        FederationId { actor, domain }
    }
}

impl FromStr for FederationId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let (actor, domain) = s.split_once('@').ok_or(IdError::FederationId)?;
        Ok(FederationId {
            actor: actor.parse()?,
            domain: domain.parse()?,
        })
    }
}

impl fmt::Display for FederationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.actor, self.domain)
    }
}

/// A session ID (§7.1.1.3): 1 to 32 characters an ASN.1 IA5String can hold, chosen by the client.
/// Kept exactly as sent; session IDs are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 32 || !s.is_ascii() {
            return Err(IdError::SessionId);
        }
        Ok(SessionId(s.to_owned()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_names_follow_the_fid_pattern() {
        assert_eq!("Alice".parse::<ActorName>().unwrap().as_str(), "alice");
        assert!("a.b_c%d+e-f9".parse::<ActorName>().is_ok());
        for bad in ["", "al ice", "alice@x", "ä", "a/b", &"a".repeat(65)] {
            assert_eq!(bad.parse::<ActorName>(), Err(IdError::ActorName), "{bad:?}");
        }
        assert!("a".repeat(64).parse::<ActorName>().is_ok());
    }

    #[test]
    fn federation_ids_split_at_the_at_sign() {
        let fid: FederationId = "Alice@Example.COM".parse().unwrap();
        assert_eq!(fid.to_string(), "alice@example.com");
        assert_eq!(fid.domain.labels().collect::<Vec<_>>(), ["example", "com"]);
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "alice@exa..mple",
            "a@b@c",
        ] {
            assert!(bad.parse::<FederationId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn session_ids_are_short_ascii() {
        assert!("x".parse::<SessionId>().is_ok());
        assert!("~ !\"#".parse::<SessionId>().is_ok());
        assert!("a".repeat(32).parse::<SessionId>().is_ok());
        assert!("a".repeat(33).parse::<SessionId>().is_err());
        assert!("".parse::<SessionId>().is_err());
        assert!("é".parse::<SessionId>().is_err());
    }
}
