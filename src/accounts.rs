//! User accounts, credential checks and login sessions.
//!
//! Owns: password hashing (Argon2id, salted, parameters sized for a small SoC), the
//! verified-credential cache (every CGI request carries `usr`/`pwd`, and a slow hash per request
//! would make a MJPEG poller a denial of service: after one slow verification a keyed BLAKE2
//! MAC of the password is cached and compared in constant time), the per-address failed-login
//! lock-out, the in-memory session list of logIn/logOut/usrBeatHeart, and the RTSP Digest
//! secrets.
//!
//! Digest (RFC 2617 / RFC 7616) cannot be checked against a memory-hard hash: the server must
//! know HA1 = H(user:realm:password). As digest servers do (Apache's htdigest file), each
//! account keeps HA1 for MD5 and SHA-256 beside its Argon2id hash, computed whenever the
//! password is set. HA1 is password-equivalent for the camera's realm ([`DIGEST_REALM`]) only;
//! it is never logged nor exported. Accounts made before Digest existed get it lazily, at their
//! next successful password check (a CGI request or an RTSP Basic login); until then Digest
//! answers 401 for them. A rename without the password forgets it (HA1 hashes the name).
//! Passwords never reach a log line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use blake2::digest::{KeyInit, Mac};
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

use crate::log_limit::limited;
use crate::store::{AccountRow, DigestUpdate, Store, StoreError};

/// The realm of RTSP authentication (Basic and Digest). Part of every stored Digest secret:
/// changing it invalidates them all.
pub const DIGEST_REALM: &str = "ipcamd";

/// Most accounts the camera keeps (the stock firmware allows 8).
pub const MAX_ACCOUNTS: usize = 8;
/// Most concurrent login sessions.
pub const MAX_SESSIONS: usize = 16;
/// A session without a heartbeat for this long is dropped.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest user name or password.
pub const MAX_CREDENTIAL_LEN: usize = 63;
/// Failed attempts from one address before the lock-out starts.
const FREE_FAILURES: u32 = 5;
/// First lock-out, doubled with every further failure.
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
/// Longest lock-out.
const MAX_LOCKOUT: Duration = Duration::from_secs(600);
/// Addresses tracked for lock-out at once (oldest forgotten first).
const MAX_TRACKED_ADDRESSES: usize = 256;

type CredentialMac = blake2::Blake2bMac<blake2::digest::consts::U32>;

/// Privilege levels, ordered: a higher level may run every lower-level command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// 0: watch video, read product info.
    Visitor = 0,
    /// 1: also move the camera and change operating settings.
    Operator = 1,
    /// 2: everything.
    Admin = 2,
}

impl Privilege {
    /// The guide's numeric level (addAccount, logIn).
    pub fn level(self) -> i64 {
        self as i64
    }

    /// From the guide's numeric level.
    pub fn from_level(level: i64) -> Option<Privilege> {
        match level {
            0 => Some(Privilege::Visitor),
            1 => Some(Privilege::Operator),
            2 => Some(Privilege::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Account name.
    pub name: String,
    /// Its privilege.
    pub privilege: Privilege,
}

/// Why a credential check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Too many recent failures from this address.
    LockedOut,
    /// No such account.
    UnknownUser,
    /// Wrong password.
    WrongPassword,
    /// Digest: the account has no Digest secret yet (made before Digest existed and not
    /// logged in with its password since, or renamed). Not counted as a failure.
    NoDigestSecret,
    /// The store could not be read.
    Store,
}

/// A Digest hash algorithm (RFC 7616 section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5`, RFC 2617's (what RTSP clients compute).
    Md5,
    /// `SHA-256`, RFC 7616's.
    Sha256,
}

impl DigestAlgorithm {
    /// The `algorithm` parameter's value.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of H(part₁ ‖ ":" ‖ part₂ ‖ …).
    pub fn hash_hex(self, parts: &[&str]) -> String {
        fn run<D: sha2::Digest>(parts: &[&str]) -> String {
            let mut hasher = D::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    hasher.update(b":");
                }
                hasher.update(part.as_bytes());
            }
            hex(&hasher.finalize())
        }
        match self {
            DigestAlgorithm::Md5 => run::<md5::Md5>(parts),
            DigestAlgorithm::Sha256 => run::<sha2::Sha256>(parts),
        }
    }

    /// RFC 2617's HA1 for `user` and `password` in the camera's realm.
    pub fn ha1(self, user: &str, password: &str) -> String {
        self.hash_hex(&[user, DIGEST_REALM, password])
    }
}

#[derive(Debug)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
    last: Instant,
}

/// logIn refused: [`MAX_SESSIONS`] are open.
#[derive(Debug, PartialEq, Eq)]
pub struct SessionsFull;

/// A login session.
#[derive(Debug, Clone)]
pub struct Session {
    /// User name.
    pub user: String,
    /// Client address as reported by the client.
    pub ip: String,
    /// Client-chosen id.
    pub group_id: String,
    /// Last logIn or heartbeat.
    pub last_seen: Instant,
}

/// Accounts, credential cache, lock-out and sessions.
pub struct Accounts {
    hasher: Argon2<'static>,
    mac_key: [u8; 32],
    /// user name -> MAC of the password last verified for it.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    sessions: Mutex<Vec<Session>>,
}

/// Why an account change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AccountError {
    /// Bad name, password or privilege.
    Invalid(&'static str),
    /// The named account does not exist.
    NotFound,
    /// The name is taken, or the limit is reached, or it would remove the last admin.
    Conflict(&'static str),
    /// The old password does not match.
    WrongPassword,
    /// Storage failure.
    Store(String),
}

impl From<StoreError> for AccountError {
    fn from(err: StoreError) -> AccountError {
        AccountError::Store(err.to_string())
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new()
    }
}

impl Accounts {
    /// Argon2id with 4 MiB and 2 passes: about a quarter second on a Cortex-A7, once per
    /// password change or first use after boot (the cache serves the rest).
    pub fn new() -> Accounts {
        let params = Params::new(4096, 2, 1, None).expect("constant Argon2 parameters are valid");
        let mut mac_key = [0u8; 32];
        OsRng.fill_bytes(&mut mac_key);
        Accounts {
            hasher: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            mac_key,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Hashes a password for storage.
    pub fn hash(&self, password: &str) -> Result<String, AccountError> {
        let salt = SaltString::generate(&mut OsRng);
        self.hasher
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| AccountError::Invalid("password could not be hashed"))
    }

    /// The stored secrets of `name` with `password`: its Argon2id hash and Digest HA1s.
    fn row(&self, name: &str, password: &str, privilege: i64) -> Result<AccountRow, AccountError> {
        Ok(AccountRow {
            name: name.into(),
            hash: self.hash(password)?,
            privilege,
            digest_md5: Some(DigestAlgorithm::Md5.ha1(name, password)),
            digest_sha256: Some(DigestAlgorithm::Sha256.ha1(name, password)),
        })
    }

    fn mac(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac =
            <CredentialMac as KeyInit>::new_from_slice(&self.mac_key).expect("32-byte MAC key");
        mac.update(&(user.len() as u64).to_le_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Creates the factory `admin` account (empty password) when there is no account at all.
    pub fn ensure_factory_admin(&self, store: &Store) -> Result<(), AccountError> {
        if store.accounts()?.is_empty() {
            store.insert_account(&self.row("admin", "", 2)?)?;
        }
        Ok(())
    }

    /// Checks a name and password, honouring the lock-out for `peer`.
    pub fn verify(
        &self,
        store: &Store,
        peer: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<User, AuthFailure> {
        let now = Instant::now();
        if self.locked_out(peer, now) {
            return Err(AuthFailure::LockedOut);
        }
        let result = self.check(store, name, password);
        match &result {
            Ok(_) => {
                self.failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&peer);
            }
            Err(AuthFailure::UnknownUser | AuthFailure::WrongPassword) => {
                self.record_failure(peer, now)
            }
            Err(_) => {}
        }
        result
    }

    /// Checks a Digest response for `name`, honouring the lock-out for `peer` like
    /// [`Accounts::verify`]: `matches` gets the account's secret (HA1, hex) for `algorithm` and
    /// says whether the client's response was computed from it. A response to a nonce that is
    /// not fresh (`fresh_nonce` false) is checked, but a match does not clear the address's
    /// failures (an old captured response must not reset the lock-out).
    pub fn verify_digest(
        &self,
        store: &Store,
        peer: IpAddr,
        name: &str,
        algorithm: DigestAlgorithm,
        fresh_nonce: bool,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<User, AuthFailure> {
        let now = Instant::now();
        if self.locked_out(peer, now) {
            return Err(AuthFailure::LockedOut);
        }
        let accounts = store.accounts().map_err(|_| AuthFailure::Store)?;
        let Some(account) = accounts.into_iter().find(|a| a.name == name) else {
            self.record_failure(peer, now);
            return Err(AuthFailure::UnknownUser);
        };
        let privilege = Privilege::from_level(account.privilege).ok_or(AuthFailure::Store)?;
        let secret = match algorithm {
            DigestAlgorithm::Md5 => account.digest_md5.as_deref(),
            DigestAlgorithm::Sha256 => account.digest_sha256.as_deref(),
        };
        let Some(secret) = secret else {
            return Err(AuthFailure::NoDigestSecret);
        };
        if !matches(secret) {
            self.record_failure(peer, now);
            return Err(AuthFailure::WrongPassword);
        }
        if fresh_nonce {
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&peer);
        }
        Ok(User {
            name: account.name,
            privilege,
        })
    }

    /// After a successful password check: gives an account without Digest secrets its
    /// secrets (accounts made before Digest existed migrate at their next login).
    fn migrate_digest(&self, store: &Store, account: &AccountRow, password: &str) {
        if account.digest_md5.is_some() && account.digest_sha256.is_some() {
            return;
        }
        let md5 = DigestAlgorithm::Md5.ha1(&account.name, password);
        let sha256 = DigestAlgorithm::Sha256.ha1(&account.name, password);
        match store.set_account_digest(&account.name, &account.hash, &md5, &sha256) {
            Ok(true) => tracing::info!(user = account.name, "account given its RTSP Digest secret"),
            Ok(false) => {}
            Err(err) => tracing::warn!(%err, "storing the RTSP Digest secret failed"),
        }
    }

    fn check(&self, store: &Store, name: &str, password: &str) -> Result<User, AuthFailure> {
        let accounts = store.accounts().map_err(|_| AuthFailure::Store)?;
        let Some(account) = accounts.into_iter().find(|a| a.name == name) else {
            // Spend comparable time on an unknown user so names cannot be probed by timing.
            let _ = self
                .hasher
                .verify_password(password.as_bytes(), &dummy_hash());
            return Err(AuthFailure::UnknownUser);
        };
        let privilege = Privilege::from_level(account.privilege).ok_or(AuthFailure::Store)?;
        let user = User {
            name: account.name.clone(),
            privilege,
        };
        let mac = self.mac(name, password);
        if let Some(cached) = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            if bool::from(cached.ct_eq(&mac)) {
                self.migrate_digest(store, &account, password);
                return Ok(user);
            }
        }
        let hash = PasswordHash::new(&account.hash).map_err(|_| AuthFailure::Store)?;
        if self
            .hasher
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
        {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), mac);
            self.migrate_digest(store, &account, password);
            Ok(user)
        } else {
            Err(AuthFailure::WrongPassword)
        }
    }

    fn locked_out(&self, peer: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&peer)
            .and_then(|f| f.locked_until)
            .is_some_and(|until| now < until)
    }

    fn record_failure(&self, peer: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&peer) {
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(ip, _)| *ip)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(peer).or_insert(Failures {
            count: 0,
            locked_until: None,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
        if entry.count >= FREE_FAILURES {
            let doublings = (entry.count - FREE_FAILURES).min(16);
            let lock = (FIRST_LOCKOUT * (1u32 << doublings)).min(MAX_LOCKOUT);
            entry.locked_until = Some(now + lock);
            limited!(warn, "login lock-out", %peer, failures = entry.count, lock_secs = lock.as_secs(), "login lock-out");
        }
    }

    fn forget(&self, name: &str) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.user != name);
    }

    /// Drops every cached credential and session (factory reset).
    pub fn forget_all(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// addAccount.
    pub fn add(
        &self,
        store: &Store,
        name: &str,
        password: &str,
        privilege: Privilege,
    ) -> Result<(), AccountError> {
        validate_name(name)?;
        validate_password(password)?;
        let accounts = store.accounts()?;
        if accounts.iter().any(|a| a.name == name) {
            return Err(AccountError::Conflict("user exists"));
        }
        if accounts.len() >= MAX_ACCOUNTS {
            return Err(AccountError::Conflict("account limit reached"));
        }
        let row = self.row(name, password, privilege.level())?;
        if store.insert_account(&row)? {
            Ok(())
        } else {
            Err(AccountError::Conflict("user exists"))
        }
    }

    /// delAccount. The last administrator cannot be deleted.
    pub fn delete(&self, store: &Store, name: &str) -> Result<(), AccountError> {
        let accounts = store.accounts()?;
        let account = accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or(AccountError::NotFound)?;
        if account.privilege == 2 && accounts.iter().filter(|a| a.privilege == 2).count() == 1 {
            return Err(AccountError::Conflict(
                "cannot delete the last administrator",
            ));
        }
        store.delete_account(name)?;
        self.forget(name);
        Ok(())
    }

    /// changePassword / changeUserName / changeUserNameAndPwdTogether. `old_password` is
    /// checked when given.
    pub fn change(
        &self,
        store: &Store,
        name: &str,
        new_name: Option<&str>,
        old_password: Option<&str>,
        new_password: Option<&str>,
    ) -> Result<(), AccountError> {
        if let Some(new_name) = new_name {
            validate_name(new_name)?;
        }
        if let Some(new_password) = new_password {
            validate_password(new_password)?;
        }
        let accounts = store.accounts()?;
        let account = accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or(AccountError::NotFound)?;
        if let Some(old) = old_password {
            let hash = PasswordHash::new(&account.hash)
                .map_err(|_| AccountError::Store("stored hash unreadable".into()))?;
            if self.hasher.verify_password(old.as_bytes(), &hash).is_err() {
                return Err(AccountError::WrongPassword);
            }
        }
        let final_name = new_name.unwrap_or(name);
        let renamed = final_name != name;
        let hash = new_password.map(|p| self.hash(p)).transpose()?;
        // HA1 hashes the name and the password: new ones when either changes and the
        // password is known, none after a rename without it.
        let digest = match new_password.or(old_password) {
            Some(password) if new_password.is_some() || renamed => Some((
                DigestAlgorithm::Md5.ha1(final_name, password),
                DigestAlgorithm::Sha256.ha1(final_name, password),
            )),
            _ => None,
        };
        let digest = match &digest {
            Some((md5, sha256)) => DigestUpdate::Set(md5, sha256),
            None if renamed => DigestUpdate::Clear,
            None => DigestUpdate::Keep,
        };
        if !store.update_account(name, new_name, hash.as_deref(), digest)? {
            return Err(AccountError::Conflict("user name taken"));
        }
        self.forget(name);
        Ok(())
    }

    /// Whether the admin account still has the factory (empty) password.
    pub fn factory_password_in_use(&self, store: &Store) -> bool {
        let Ok(accounts) = store.accounts() else {
            return false;
        };
        accounts.iter().filter(|a| a.privilege == 2).any(|a| {
            PasswordHash::new(&a.hash).is_ok_and(|h| self.hasher.verify_password(b"", &h).is_ok())
        })
    }

    /// Opens or refreshes a session; `Err(SessionsFull)` when the session table is full.
    pub fn log_in(&self, user: &str, ip: &str, group_id: &str) -> Result<(), SessionsFull> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|s| now.duration_since(s.last_seen) < SESSION_TIMEOUT);
        if let Some(s) = sessions
            .iter_mut()
            .find(|s| s.user == user && s.ip == ip && s.group_id == group_id)
        {
            s.last_seen = now;
            return Ok(());
        }
        if sessions.len() >= MAX_SESSIONS {
            return Err(SessionsFull);
        }
        sessions.push(Session {
            user: user.into(),
            ip: ip.into(),
            group_id: group_id.into(),
            last_seen: now,
        });
        Ok(())
    }

    /// Closes a session; `false` when there was none.
    pub fn log_out(&self, user: &str, ip: &str, group_id: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let before = sessions.len();
        sessions.retain(|s| !(s.user == user && s.ip == ip && s.group_id == group_id));
        sessions.len() != before
    }

    /// Refreshes a session; `false` when it does not exist (or expired).
    pub fn heartbeat(&self, user: &str, ip: &str, group_id: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|s| now.duration_since(s.last_seen) < SESSION_TIMEOUT);
        match sessions
            .iter_mut()
            .find(|s| s.user == user && s.ip == ip && s.group_id == group_id)
        {
            Some(s) => {
                s.last_seen = now;
                true
            }
            None => false,
        }
    }

    /// Live sessions.
    pub fn sessions(&self) -> Vec<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|s| now.duration_since(s.last_seen) < SESSION_TIMEOUT);
        sessions.clone()
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn dummy_hash() -> PasswordHash<'static> {
    PasswordHash::new(
        "$argon2id$v=19$m=4096,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
         u4EGmeBU8oa2bwvAc7G5lRiLQnYyZY6fZOgKcO8vR7Q",
    )
    .expect("constant hash parses")
}

fn validate_name(name: &str) -> Result<(), AccountError> {
    if name.is_empty() || name.chars().count() > MAX_CREDENTIAL_LEN {
        return Err(AccountError::Invalid(
            "user name must be 1 to 63 characters",
        ));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AccountError::Invalid(
            "user name has spaces or control characters",
        ));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() > MAX_CREDENTIAL_LEN || password.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "password too long or has control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Store, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let accounts = Accounts::new();
        accounts.ensure_factory_admin(&store).unwrap();
        (dir, store, accounts)
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn test_factory_admin_has_empty_password() {
        let (_d, store, accounts) = setup();
        let user = accounts.verify(&store, PEER, "admin", "").unwrap();
        assert_eq!(user.privilege, Privilege::Admin);
        assert!(accounts.factory_password_in_use(&store));
    }

    #[test]
    fn test_password_is_stored_hashed() {
        let (_d, store, accounts) = setup();
        accounts
            .add(&store, "bob", "s3cret", Privilege::Operator)
            .unwrap();
        let row = store
            .accounts()
            .unwrap()
            .into_iter()
            .find(|a| a.name == "bob")
            .unwrap();
        assert!(row.hash.starts_with("$argon2id$"));
        assert!(!row.hash.contains("s3cret"));
    }

    #[test]
    fn test_cached_credential_invalidated_on_password_change() {
        let (_d, store, accounts) = setup();
        accounts.verify(&store, PEER, "admin", "").unwrap();
        accounts
            .change(&store, "admin", None, Some(""), Some("new"))
            .unwrap();
        assert_eq!(
            accounts.verify(&store, PEER, "admin", ""),
            Err(AuthFailure::WrongPassword)
        );
        assert!(accounts.verify(&store, PEER, "admin", "new").is_ok());
    }

    #[test]
    fn test_repeated_failures_lock_out_the_address() {
        let (_d, store, accounts) = setup();
        for _ in 0..FREE_FAILURES {
            assert_eq!(
                accounts.verify(&store, PEER, "admin", "x"),
                Err(AuthFailure::WrongPassword)
            );
        }
        assert_eq!(
            accounts.verify(&store, PEER, "admin", ""),
            Err(AuthFailure::LockedOut)
        );
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(accounts.verify(&store, other, "admin", "").is_ok());
    }

    fn digest_of(store: &Store, name: &str) -> (Option<String>, Option<String>) {
        let row = store
            .accounts()
            .unwrap()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap();
        (row.digest_md5, row.digest_sha256)
    }

    fn digest(
        accounts: &Accounts,
        store: &Store,
        peer: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<User, AuthFailure> {
        let ha1 = DigestAlgorithm::Md5.ha1(name, password);
        accounts.verify_digest(store, peer, name, DigestAlgorithm::Md5, true, &|secret| {
            secret == ha1
        })
    }

    #[test]
    fn test_digest_secrets_are_rfc_2617_ha1s_kept_with_the_password() {
        let (_d, store, accounts) = setup();
        accounts
            .add(&store, "bob", "s3cret", Privilege::Visitor)
            .unwrap();
        let (md5, sha256) = digest_of(&store, "bob");
        // HA1 = H(user:realm:password), lower-case hex (RFC 2617 section 3.2.2.2).
        assert_eq!(
            md5.as_deref(),
            Some(
                DigestAlgorithm::Md5
                    .hash_hex(&["bob", DIGEST_REALM, "s3cret"])
                    .as_str()
            )
        );
        assert_eq!(md5.as_ref().map(String::len), Some(32));
        assert_eq!(sha256.as_ref().map(String::len), Some(64));
        assert!(digest(&accounts, &store, PEER, "bob", "s3cret").is_ok());
        assert_eq!(
            digest(&accounts, &store, PEER, "bob", "wrong"),
            Err(AuthFailure::WrongPassword)
        );
        assert_eq!(
            digest(&accounts, &store, PEER, "nobody", "x"),
            Err(AuthFailure::UnknownUser)
        );
        // A password change brings new secrets; a rename without the password forgets them,
        // and the next password check brings them back (for the new name).
        accounts
            .change(&store, "bob", None, Some("s3cret"), Some("n3w"))
            .unwrap();
        assert!(digest(&accounts, &store, PEER, "bob", "n3w").is_ok());
        accounts
            .change(&store, "bob", Some("rob"), None, None)
            .unwrap();
        assert_eq!(digest_of(&store, "rob"), (None, None));
        assert_eq!(
            digest(&accounts, &store, PEER, "rob", "n3w"),
            Err(AuthFailure::NoDigestSecret)
        );
        accounts.verify(&store, PEER, "rob", "n3w").unwrap();
        assert!(digest(&accounts, &store, PEER, "rob", "n3w").is_ok());
        // A rename with the (checked) old password keeps Digest working.
        accounts
            .change(&store, "rob", Some("bobby"), Some("n3w"), None)
            .unwrap();
        assert!(digest(&accounts, &store, PEER, "bobby", "n3w").is_ok());
    }

    #[test]
    fn test_an_account_from_before_digest_migrates_at_its_next_password_login() {
        let (_d, store, accounts) = setup();
        let legacy = AccountRow {
            name: "old".into(),
            hash: accounts.hash("pw").unwrap(),
            privilege: 0,
            digest_md5: None,
            digest_sha256: None,
        };
        store.insert_account(&legacy).unwrap();
        assert_eq!(
            digest(&accounts, &store, PEER, "old", "pw"),
            Err(AuthFailure::NoDigestSecret)
        );
        assert_eq!(
            accounts.verify(&store, PEER, "old", "nope"),
            Err(AuthFailure::WrongPassword)
        );
        assert_eq!(
            digest_of(&store, "old"),
            (None, None),
            "not from a wrong password"
        );
        accounts.verify(&store, PEER, "old", "pw").unwrap();
        let (md5, sha256) = digest_of(&store, "old");
        assert_eq!(md5, Some(DigestAlgorithm::Md5.ha1("old", "pw")));
        assert_eq!(sha256, Some(DigestAlgorithm::Sha256.ha1("old", "pw")));
        assert!(digest(&accounts, &store, PEER, "old", "pw").is_ok());
    }

    #[test]
    fn test_digest_failures_lock_out_like_password_failures() {
        let (_d, store, accounts) = setup();
        for _ in 0..FREE_FAILURES {
            assert_eq!(
                digest(&accounts, &store, PEER, "admin", "x"),
                Err(AuthFailure::WrongPassword)
            );
        }
        assert_eq!(
            digest(&accounts, &store, PEER, "admin", ""),
            Err(AuthFailure::LockedOut)
        );
        assert_eq!(
            accounts.verify(&store, PEER, "admin", ""),
            Err(AuthFailure::LockedOut),
            "the CGI's lock-out too"
        );
        // A match on a stale nonce does not clear the failures of another address.
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            let _ = digest(&accounts, &store, other, "admin", "x");
        }
        let ha1 = DigestAlgorithm::Md5.ha1("admin", "");
        assert!(
            accounts
                .verify_digest(&store, other, "admin", DigestAlgorithm::Md5, false, &|s| s
                    == ha1)
                .is_ok()
        );
        assert_eq!(
            digest(&accounts, &store, other, "admin", "x"),
            Err(AuthFailure::WrongPassword)
        );
        assert_eq!(
            digest(&accounts, &store, other, "admin", ""),
            Err(AuthFailure::LockedOut)
        );
    }

    #[test]
    fn test_last_admin_cannot_be_deleted() {
        let (_d, store, accounts) = setup();
        assert!(matches!(
            accounts.delete(&store, "admin"),
            Err(AccountError::Conflict(_))
        ));
    }
}
