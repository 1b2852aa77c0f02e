//! The ID-Certs valid now, per actor, kept in memory for `GET /p2core/key/actor/{fid}`: the
//! route every foreign server calls for every identify, and the one that must be fast.
//!
//! Correctness first: every change this process makes to an actor's ID-Certs drops that actor's
//! entry before the change is reported done, and an entry loaded from the database while a
//! change happened is not kept (the epoch). Changes made by other processes sharing the
//! database are seen through the `cert_generation` counter, compared at most once a second;
//! when it has moved, every entry is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// At most this many actors are kept; beyond it, an arbitrary entry makes room. About 1 KiB
/// an actor with one session.
const MAX_ACTORS: usize = 16_384;

/// An ID-Cert that was not revoked and not yet expired when it was loaded.
#[derive(Debug, Clone)]
pub struct CachedCert {
    pub session_id: String,
    pub not_before: i64,
    pub not_after: i64,
    pub pem: String,
}

/// An actor's unrevoked, unexpired ID-Certs, oldest first.
#[derive(Debug, Clone)]
pub struct CurrentCerts(pub(crate) Arc<[CachedCert]>);

impl CurrentCerts {
    /// The PEM of the certificates valid at `now`, optionally of one session, oldest first:
    /// what `Store::actor_certs_at(actor, now, session_id)` answers.
    pub fn valid_at<'a>(
        &'a self,
        now: i64,
        session_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |c| c.not_before <= now && now <= c.not_after)
            .filter(move |c| session_id.is_none_or(|s| s == c.session_id))
            .map(|c| c.pem.as_str())
    }
}

pub(crate) struct CertCache {
    entries: Mutex<HashMap<String, CurrentCerts>>,
    /// Incremented, under the lock, by every local change.
    epoch: AtomicU64,
    /// The database's `cert_generation` when last compared.
    generation: AtomicI64,
    /// The UNIX second of the last comparison.
    checked_at: AtomicI64,
}

impl CertCache {
    pub(crate) fn new(generation: i64, now: i64) -> CertCache {
        CertCache {
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            generation: AtomicI64::new(generation),
            checked_at: AtomicI64::new(now),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, CurrentCerts>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The actor's entry, unless there is none or the generation is due to be compared (then
    /// for one caller a second, who goes to the database and compares it).
    pub(crate) fn get(&self, actor: &str, now: i64) -> Option<CurrentCerts> {
        let last = self.checked_at.load(Ordering::Relaxed);
        if last < now
            && self
                .checked_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return None;
        }
        self.entries().get(actor).cloned()
    }

    /// The epoch to pass to [`CertCache::insert`], read before loading from the database.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `certs`, loaded after [`CertCache::epoch`] gave `epoch`, unless something changed
    /// since.
    pub(crate) fn insert(&self, actor: &str, certs: CurrentCerts, epoch: u64) {
        let mut entries = self.entries();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= MAX_ACTORS && !entries.contains_key(actor) {
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(actor.to_owned(), certs);
    }

    /// Drops the actor's entry (`None`: every entry) after a change.
    pub(crate) fn forget(&self, actor: Option<&str>) {
        let mut entries = self.entries();
        match actor {
            Some(actor) => {
                entries.remove(actor);
            }
            None => entries.clear(),
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes note that this process's own change moved the database's generation to
    /// `generation`: if that is the next one after the generation last seen, nobody else
    /// changed anything in between, and the entries stay.
    pub(crate) fn changed_to(&self, generation: i64) {
        let _ = self.generation.compare_exchange(
            generation - 1,
            generation,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Takes note of the database's generation; drops everything if it moved.
    pub(crate) fn saw_generation(&self, generation: i64) {
        if self.generation.swap(generation, Ordering::AcqRel) != generation {
            self.forget(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs(pems: &[(&str, i64, i64)]) -> CurrentCerts {
        CurrentCerts(
            pems.iter()
                .map(|&(sid, not_before, not_after)| CachedCert {
                    session_id: sid.to_owned(),
                    not_before,
                    not_after,
                    pem: format!("{sid}-{not_before}"),
                })
                .collect(),
        )
    }

    #[test]
    fn a_load_that_overlapped_a_change_is_not_kept() {
        let cache = CertCache::new(0, 100);
        let epoch = cache.epoch();
        cache.forget(Some("alice"));
        cache.insert("alice", certs(&[("a", 0, 200)]), epoch);
        assert!(cache.get("alice", 100).is_none());
        cache.insert("alice", certs(&[("a", 0, 200)]), cache.epoch());
        assert!(cache.get("alice", 100).is_some());
    }

    #[test]
    fn another_process_moving_the_generation_drops_everything() {
        let cache = CertCache::new(5, 100);
        cache.insert("alice", certs(&[("a", 0, 200)]), cache.epoch());
        // Our own change moved it to 6: entries stay.
        cache.changed_to(6);
        cache.saw_generation(6);
        assert!(cache.get("alice", 100).is_some());
        // Someone else's moved it to 7.
        cache.saw_generation(7);
        assert!(cache.get("alice", 100).is_none());
    }

    #[test]
    fn the_generation_is_compared_once_a_second() {
        let cache = CertCache::new(0, 100);
        cache.insert("alice", certs(&[("a", 0, 200)]), cache.epoch());
        assert!(cache.get("alice", 100).is_some());
        // The first caller in a new second is sent to the database; the others are not.
        assert!(cache.get("alice", 101).is_none());
        assert!(cache.get("alice", 101).is_some());
    }

    #[test]
    fn only_certificates_valid_then_of_the_session_asked_for_are_listed() {
        let c = certs(&[("a", 10, 20), ("b", 15, 30), ("a", 25, 40)]);
        let list = |now, sid| c.valid_at(now, sid).collect::<Vec<_>>();
        assert_eq!(list(16, None), ["a-10", "b-15"]);
        assert_eq!(list(26, None), ["b-15", "a-25"]);
        assert_eq!(list(26, Some("a")), ["a-25"]);
        assert_eq!(list(41, None), Vec::<&str>::new());
        assert_eq!(list(5, Some("b")), Vec::<&str>::new());
    }
}
