//! Basic auth with bcrypt hashes, as exporter-toolkit does it: every hash is checked when
//! the file is read (a cost bcrypt cannot compute, or one that makes a request burn a core
//! for minutes, a malformed salt, a user name no client can send, each stops `serve` at
//! start), credentials already verified are answered from a cache without bcrypt, and
//! bcrypt runs one request at a time: a flood of wrong passwords keeps at most one core
//! busy, and a scrape with known credentials never waits behind it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use ring::hmac;

use crate::serve::http::Authorize;

/// The highest bcrypt cost accepted. Each step doubles the work: cost 10 takes about
/// 0.06 s of a core here, cost 17 about 8 s, bcrypt's own limit, 31, a day and more.
pub const MAX_COST: u32 = 17;

/// bcrypt's lowest cost.
const MIN_COST: u32 = 4;

/// Seconds of a core that one check at cost 10 takes (measured: 0.06 s on an idle core).
const COST_10_SECONDS: f64 = 0.06;

/// Verified credentials remembered (only right passwords get in: a flood cannot fill it).
const MAX_ALLOWED: usize = 64;

/// Refused credentials remembered (the oldest forgotten first).
const MAX_REFUSED: usize = 1024;

/// How to make a hash, for every message about one.
const MAKE_ONE: &str = "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`";

/// Whether `password` is the one `hash` was made of.
type Verify = dyn Fn(&[u8], &str) -> bool + Send + Sync;

/// Users and their bcrypt hashes, with the credentials already checked.
pub(super) struct BasicAuth {
    users: BTreeMap<String, String>,
    /// What an unknown user's password is checked against (a real user's hash): an
    /// unknown user costs the same time as a known one, so response times do not tell
    /// which users exist.
    decoy: String,
    /// Keys the cache: credentials are remembered by a keyed hash, never in clear.
    key: hmac::Key,
    seen: Mutex<CheckedCredentials>,
    /// Held while bcrypt runs: one check at a time.
    bcrypt: Mutex<()>,
    verify: Box<Verify>,
}

/// Credentials (their keyed hash) and whether they were allowed.
#[derive(Default)]
struct CheckedCredentials {
    allowed: HashSet<Tag>,
    refused: HashSet<Tag>,
    refused_order: VecDeque<Tag>,
}

type Tag = [u8; 32];

impl CheckedCredentials {
    fn get(&self, tag: &Tag) -> Option<bool> {
        if self.allowed.contains(tag) {
            Some(true)
        } else if self.refused.contains(tag) {
            Some(false)
        } else {
            None
        }
    }

    fn remember(&mut self, tag: Tag, allowed: bool) {
        if allowed {
            if self.allowed.len() < MAX_ALLOWED {
                self.allowed.insert(tag);
            }
            return;
        }
        if self.refused.len() >= MAX_REFUSED
            && let Some(oldest) = self.refused_order.pop_front()
        {
            self.refused.remove(&oldest);
        }
        if self.refused.insert(tag) {
            self.refused_order.push_back(tag);
        }
    }
}

impl BasicAuth {
    /// Check every user and hash. The error is the user (to find its line) and the reason.
    pub(super) fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, (String, String)> {
        BasicAuth::with_verify(
            users,
            Box::new(|password, hash| bcrypt::verify(password, hash).unwrap_or(false)),
        )
    }

    fn with_verify(
        users: BTreeMap<String, String>,
        verify: Box<Verify>,
    ) -> Result<BasicAuth, (String, String)> {
        for (user, hash) in &users {
            check_user(user, hash).map_err(|reason| (user.clone(), reason))?;
        }
        let decoy = users.values().next().cloned().unwrap_or_default();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
            .map_err(|_| {
                (
                    "basic_auth_users".to_owned(),
                    "basic_auth_users: the system gave no random bytes to key the credential cache with (getrandom failed); try again".to_owned(),
                )
            })?;
        Ok(BasicAuth {
            users,
            decoy,
            key,
            seen: Mutex::new(CheckedCredentials::default()),
            bcrypt: Mutex::new(()),
            verify,
        })
    }

    /// How many users.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    fn seen(&self) -> MutexGuard<'_, CheckedCredentials> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `user:password` (as the client sent it) is allowed, running bcrypt only for
    /// credentials not seen before, and only one at a time.
    fn check(&self, credentials: &[u8]) -> bool {
        let Some(colon) = credentials.iter().position(|&b| b == b':') else {
            return false;
        };
        // A user name holds no ':' (checked at start): "user:password" is unambiguous.
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.key, credentials).as_ref());
        if let Some(known) = self.seen().get(&tag) {
            return known;
        }
        let _one_at_a_time = self.bcrypt.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have checked the same credentials while this one waited.
        if let Some(known) = self.seen().get(&tag) {
            return known;
        }
        let (user, password) = (&credentials[..colon], &credentials[colon + 1..]);
        let hash = std::str::from_utf8(user)
            .ok()
            .and_then(|user| self.users.get(user));
        let allowed = match hash {
            Some(hash) => (self.verify)(password, hash),
            None => {
                let _ = (self.verify)(password, &self.decoy);
                false
            }
        };
        self.seen().remember(tag, allowed);
        allowed
    }
}

impl Authorize for BasicAuth {
    fn allows(&self, authorization: Option<&str>) -> bool {
        authorization
            .and_then(basic_credentials)
            .is_some_and(|credentials| self.check(&credentials))
    }
}

/// The decoded credentials of a `Basic` authorization; the scheme's name is
/// case-insensitive (RFC 9110 section 11.1).
fn basic_credentials(header: &str) -> Option<Vec<u8>> {
    let (scheme, encoded) = header.trim().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// Why `user` with `hash` could never log in, or would make every login cost too much.
fn check_user(user: &str, hash: &str) -> Result<(), String> {
    let at = format!("basic_auth_users.{}", shown(user));
    if user.contains(':') {
        return Err(format!(
            "{at}: a user name cannot hold ':' (basic auth sends \"user:password\", so \"{}\" could never log in); rename the user",
            shown(user)
        ));
    }
    let not_bcrypt = || format!("{at}: \"{}\" is not a bcrypt hash; {MAKE_ONE}", shown(hash));
    // $2y$10$ then 22 characters of salt and 31 of checksum, as htpasswd writes it.
    let mut parts = hash.splitn(4, '$');
    let (Some(""), Some(version), Some(cost), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_bcrypt());
    };
    if !matches!(version, "2a" | "2b" | "2x" | "2y")
        || cost.len() != 2
        || !cost.bytes().all(|b| b.is_ascii_digit())
        || rest.len() != 53
        || !rest.is_ascii()
    {
        return Err(not_bcrypt());
    }
    let cost: u32 = cost.parse().map_err(|_| not_bcrypt())?;
    if !(MIN_COST..=31).contains(&cost) {
        return Err(format!(
            "{at}: the hash's cost is {cost}, which bcrypt does not have (it goes from {MIN_COST} to 31): nobody could ever log in; {MAKE_ONE}"
        ));
    }
    if cost > MAX_COST {
        return Err(format!(
            "{at}: the hash's cost is {cost}, above the {MAX_COST} sockscope accepts: each step doubles bcrypt's work, and every request with a password not seen before would keep a core busy for {}; {MAKE_ONE}",
            core_time(cost)
        ));
    }
    let (salt, checksum) = rest.split_at(22);
    let decodes_to = |text: &str, len: usize| {
        bcrypt::BASE_64
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == len)
    };
    let prefix = &hash[..7];
    if !decodes_to(salt, 16) {
        return Err(format!(
            "{at}: the salt of {hash:?} (the 22 characters after {prefix:?}) is not bcrypt's base64 (./A-Za-z0-9, the last one of .Oeu): nobody could ever log in; {MAKE_ONE}"
        ));
    }
    if !decodes_to(checksum, 23) {
        return Err(format!(
            "{at}: the checksum of {hash:?} (its last 31 characters) is not bcrypt's base64 (./A-Za-z0-9, the last one of .CGKOSWaeimquy26): nobody could ever log in; {MAKE_ONE}"
        ));
    }
    Ok(())
}

/// `text` for a message: control characters escaped, at most 80 characters (a hash is 60).
fn shown(text: &str) -> String {
    let escaped: String = text.chars().flat_map(char::escape_debug).collect();
    match escaped.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// About how long one bcrypt check at `cost` keeps a core busy, in words.
fn core_time(cost: u32) -> String {
    let seconds = COST_10_SECONDS * f64::from(1u32 << (cost.saturating_sub(10)));
    if seconds < 120.0 {
        format!("about {seconds:.0} s")
    } else if seconds < 2.0 * 3600.0 {
        format!("about {:.0} minutes", seconds / 60.0)
    } else if seconds < 48.0 * 3600.0 {
        format!("about {:.0} hours", seconds / 3600.0)
    } else {
        format!("about {:.0} days", seconds / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    /// A hash of "s3cret" at cost 4, well formed.
    fn hash() -> String {
        bcrypt::hash("s3cret", 4).unwrap()
    }

    fn refusal(user: &str, hash: &str) -> String {
        match BasicAuth::new(BTreeMap::from([(user.to_owned(), hash.to_owned())])) {
            Ok(_) => panic!("{user}: {hash} accepted"),
            Err((at, reason)) => {
                assert_eq!(at, user);
                reason
            }
        }
    }

    fn header(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn a_cost_bcrypt_does_not_have_is_refused_at_start() {
        let hash = hash().replacen("$04$", "$99$", 1);
        assert_eq!(
            refusal("alice", &hash),
            "basic_auth_users.alice: the hash's cost is 99, which bcrypt does not have (it goes from 4 to 31): nobody could ever log in; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
        );
    }

    #[test]
    fn a_cost_that_burns_a_core_for_hours_is_refused_at_start() {
        let hash = hash().replacen("$04$", "$31$", 1);
        assert_eq!(
            refusal("alice", &hash),
            "basic_auth_users.alice: the hash's cost is 31, above the 17 sockscope accepts: each step doubles bcrypt's work, and every request with a password not seen before would keep a core busy for about 35 hours; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
        );
        let hash18 = self::hash().replacen("$04$", "$18$", 1);
        assert!(
            refusal("alice", &hash18).contains("would keep a core busy for about 15 s;"),
            "{hash18}"
        );
        let hash17 = self::hash().replacen("$04$", "$17$", 1);
        assert!(BasicAuth::new(BTreeMap::from([("alice".to_owned(), hash17)])).is_ok());
    }

    #[test]
    fn a_malformed_salt_or_checksum_is_refused_at_start() {
        // The salt's last character carries 4 unused bits that must be zero: 'v' has some.
        let good = "$2y$10$abcdefghijklmnopqrstuu5Uq8V5uYQlYV.Xv9k8b6Ie1Q9XUjVxG";
        assert!(BasicAuth::new(BTreeMap::from([("a".to_owned(), good.to_owned())])).is_ok());
        let salt = good.replacen("stuu5", "stuv5", 1);
        assert_eq!(
            refusal("alice", &salt),
            format!(
                "basic_auth_users.alice: the salt of {salt:?} (the 22 characters after \"$2y$10$\") is not bcrypt's base64 (./A-Za-z0-9, the last one of .Oeu): nobody could ever log in; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )
        );
        let bang = good.replacen("stuu5", "stu!5", 1);
        assert!(refusal("alice", &bang).contains("the salt of"));
        let checksum = good.replacen("VxG", "Vx!", 1);
        assert!(
            refusal("alice", &checksum).starts_with(&format!(
                "basic_auth_users.alice: the checksum of {checksum:?} (its last 31 characters) is not bcrypt's base64"
            ))
        );
    }

    #[test]
    fn a_password_in_clear_or_a_truncated_hash_is_not_a_bcrypt_hash() {
        for hash in [
            "hunter2",
            "$2y$04$x",
            "$2z$10$abcdefghijklmnopqrstuu5Uq8V5uYQlYV.Xv9k8b6Ie1Q9XUjVxG",
            "$2y$1$abcdefghijklmnopqrstuu5Uq8V5uYQlYV.Xv9k8b6Ie1Q9XUjVxGx",
        ] {
            assert_eq!(
                refusal("bob", hash),
                format!(
                    "basic_auth_users.bob: {hash:?} is not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                )
            );
        }
    }

    #[test]
    fn a_long_or_escaping_value_is_quoted_short_and_escaped() {
        let long = "x".repeat(100_000);
        assert_eq!(
            refusal("al\x1b[2Jice", &long),
            format!(
                "basic_auth_users.al\\u{{1b}}[2Jice: \"{}…\" is not a bcrypt hash; make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                "x".repeat(80)
            )
        );
    }

    #[test]
    fn a_user_name_with_a_colon_is_refused_at_start() {
        assert_eq!(
            refusal("team:prom", &hash()),
            "basic_auth_users.team:prom: a user name cannot hold ':' (basic auth sends \"user:password\", so \"team:prom\" could never log in); rename the user"
        );
    }

    #[test]
    fn basic_auth_allows_the_right_password_only() {
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_owned(), hash())])).unwrap();
        assert!(auth.allows(Some(&header("prom:s3cret"))));
        assert!(!auth.allows(Some(&header("prom:wrong"))));
        assert!(!auth.allows(Some(&header("eve:s3cret"))));
        assert!(!auth.allows(Some(&header("prom"))));
        assert!(!auth.allows(Some("Bearer x")));
        assert!(!auth.allows(Some("Basic !!!")));
        assert!(!auth.allows(None));
    }

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_owned(), hash())])).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode("prom:s3cret");
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert!(
                auth.allows(Some(&format!("{scheme} {encoded}"))),
                "{scheme}"
            );
        }
        assert!(!auth.allows(Some(&format!("Basics {encoded}"))));
    }

    /// A fake bcrypt that counts its calls and the most that ran at once.
    #[derive(Default)]
    struct BcryptCounts {
        calls: AtomicUsize,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    fn counting(each: Duration) -> (Arc<BcryptCounts>, BasicAuth) {
        let counts = Arc::new(BcryptCounts::default());
        let seen = Arc::clone(&counts);
        let auth = BasicAuth::with_verify(
            BTreeMap::from([("prom".to_owned(), hash())]),
            Box::new(move |password, _| {
                seen.calls.fetch_add(1, Ordering::SeqCst);
                let now = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(each);
                seen.running.fetch_sub(1, Ordering::SeqCst);
                password == b"s3cret"
            }),
        )
        .unwrap();
        (counts, auth)
    }

    fn at_once(auth: &Arc<BasicAuth>, credentials: impl Fn(usize) -> String) -> Vec<bool> {
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (auth, barrier) = (Arc::clone(auth), Arc::clone(&barrier));
                let header = header(&credentials(i));
                std::thread::spawn(move || {
                    barrier.wait();
                    auth.allows(Some(&header))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn bcrypt_runs_one_request_at_a_time() {
        let (counts, auth) = counting(Duration::from_millis(20));
        let auth = Arc::new(auth);
        let allowed = at_once(&auth, |i| format!("prom:wrong{i}"));
        assert_eq!(allowed, [false; 8]);
        assert_eq!(counts.calls.load(Ordering::SeqCst), 8);
        assert_eq!(counts.most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn credentials_already_checked_cost_no_bcrypt() {
        let (counts, auth) = counting(Duration::from_millis(20));
        let auth = Arc::new(auth);
        assert_eq!(at_once(&auth, |_| "prom:s3cret".to_owned()), [true; 8]);
        assert_eq!(at_once(&auth, |_| "prom:wrong".to_owned()), [false; 8]);
        assert_eq!(at_once(&auth, |_| "eve:s3cret".to_owned()), [false; 8]);
        // One check each: the others waited for it and took its answer.
        assert_eq!(counts.calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_flood_of_new_wrong_passwords_never_evicts_a_verified_login() {
        let (counts, auth) = counting(Duration::ZERO);
        assert!(auth.check(b"prom:s3cret"));
        for i in 0..MAX_REFUSED + 100 {
            assert!(!auth.check(format!("prom:wrong{i}").as_bytes()));
        }
        assert_eq!(auth.seen().refused.len(), MAX_REFUSED);
        assert_eq!(auth.seen().refused_order.len(), MAX_REFUSED);
        assert!(auth.check(b"prom:s3cret"));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 1 + MAX_REFUSED + 100);
    }

    #[test]
    fn an_unknown_user_costs_a_bcrypt_like_a_known_one() {
        let (counts, auth) = counting(Duration::from_millis(20));
        assert!(!auth.check(b"eve:s3cret"));
        assert_eq!(counts.calls.load(Ordering::SeqCst), 1);
    }
}
