//! Login passwords: policy and argon2id hashing.
//!
//! Hashing is CPU-bound (10 to 30 ms per hash), so it runs on a fixed set of
//! threads sized to the cores ([`Hasher`]): a flood of password logins queues
//! there instead of starving the async workers that serve tokens and pages.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret as _, SecretString};

use crate::error::{Error, Result};

/// Memory cost in KiB: the OWASP minimum for argon2id (19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const LANES: u32 = 1;
/// Shortest accepted password, in code points.
pub const MIN_CHARS: usize = 8;
/// Longest accepted password, in code points (argon2 takes any length; this bounds the work).
pub const MAX_CHARS: usize = 256;

/// Passwords refused whatever the rest of the policy says: the most common
/// choices (NIST SP 800-63B-4 §3.1.1.2 asks for a blocklist). Operators add
/// a full list of breached passwords with `password_blocklist`.
const BUILT_IN_BLOCKLIST: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "00000000",
    "88888888",
    "12341234",
    "11223344",
    "qwertyui",
    "qwerty123",
    "qwertyuiop",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjk",
    "asdf1234",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "letmein1",
    "trustno1",
    "dragon12",
    "monkey12",
    "admin123",
    "administrator",
    "changeme",
    "superman",
    "starwars",
];

/// NFC normalisation, so a password typed on a keyboard that composes
/// characters differently (macOS gives NFD kana) still matches.
fn normalise(password: &SecretString) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    password.expose_secret().nfc().collect()
}

/// Checks a new password against the policy: 8 to 256 characters (Unicode
/// code points after NFC), no composition rules, not on a blocklist, not the
/// customer code, not one repeated character.
pub fn check_policy(
    password: &SecretString,
    customer_code: &str,
    extra_blocklist: &[String],
) -> Result<()> {
    let text = normalise(password);
    let chars = text.chars().count();
    if chars < MIN_CHARS {
        return Err(Error::Invalid(format!(
            "a password has at least {MIN_CHARS} characters"
        )));
    }
    if chars > MAX_CHARS {
        return Err(Error::Invalid(format!(
            "a password has at most {MAX_CHARS} characters"
        )));
    }
    let lower = text.to_lowercase();
    let first = text.chars().next();
    let blocked = BUILT_IN_BLOCKLIST.contains(&lower.as_str())
        || extra_blocklist.iter().any(|b| b.to_lowercase() == lower)
        || lower == customer_code.to_lowercase()
        || text.chars().all(|c| Some(c) == first);
    if blocked {
        return Err(Error::Invalid(
            "this password is too common or too easy to guess; choose another".into(),
        ));
    }
    Ok(())
}

/// Reads a blocklist file: one password per line, blank lines and `#` comments ignored.
pub fn load_blocklist(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read the password blocklist {}: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

thread_local! {
    /// This thread's argon2 working memory: allocated at its first hash and
    /// reused by the hashes that follow, so a busy hashing thread holds one
    /// block of 19 MiB instead of asking the allocator for a fresh one per
    /// hash (which left freed blocks resident in per-thread arenas); freed
    /// when the thread goes idle ([`IDLE_RELEASE`]).
    static WORKING_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most memory a stored hash may ask for: a hash with absurd parameters
/// (imported, or written by a database attacker) is refused rather than run.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Bytes of salt in a new hash (OWASP and RFC 9106 ask for at least 16).
const SALT_LEN: usize = 16;

/// Bytes of hash output.
const OUTPUT_LEN: usize = 32;

/// Runs argon2 with `params` into `out`, in this thread's reused memory.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    input: (&[u8], &[u8]),
    out: &mut [u8],
) -> Result<()> {
    let (password, salt) = input;
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    WORKING_MEMORY
        .with(|memory| {
            let mut memory = memory.borrow_mut();
            if memory.len() < blocks {
                memory.resize(blocks, Block::new());
            }
            argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        })
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
}

/// Hashes a password with argon2id and a random 16-byte salt, returning the PHC string.
pub fn hash(password: &SecretString) -> Result<String> {
    let salt = crate::crypto::random::bytes::<SALT_LEN>();
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN))
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
    let mut out = [0_u8; OUTPUT_LEN];
    let text = normalise(password);
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        (text.as_bytes(), &salt),
        &mut out,
    )?;
    Ok(phc(&salt, &out))
}

/// A PHC string with today's parameters that no password matches.
///
/// Unknown customer codes are checked against it, so they cost the same
/// argon2id work as a wrong password (ASVS 6.3.8). Salt and output are
/// random. Made without hashing anything, so a start touches none of the 19 MiB of
/// argon2 memory (the idle RSS in benches/README.md).
pub fn dummy_hash() -> String {
    let salt = crate::crypto::random::bytes::<SALT_LEN>();
    let out = crate::crypto::random::bytes::<OUTPUT_LEN>();
    phc(&salt, &out)
}

fn phc(salt: &[u8], out: &[u8]) -> String {
    // The PHC string format: base64 without padding, standard alphabet.
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={LANES}${}${}",
        base64::Engine::encode(&b64, salt),
        base64::Engine::encode(&b64, out)
    )
}

/// Verifies a password against a PHC string, in constant time with respect to the password.
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(algorithm) = parsed.algorithm.as_str().parse::<Algorithm>() else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x10);
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let value = |name: &str| parsed.params.get_decimal(name);
    let (Some(m), Some(t), Some(p)) = (value("m"), value("t"), value("p")) else {
        return false;
    };
    if m > MAX_MEMORY_KIB {
        return false;
    }
    let Ok(params) = Params::new(m, t, p, Some(expected.len())) else {
        return false;
    };
    let mut out = vec![0_u8; expected.len()];
    let text = normalise(password);
    compute(
        algorithm,
        version,
        params,
        (text.as_bytes(), salt),
        &mut out,
    )
    .is_ok()
        && crate::crypto::compare::ct_eq(&out, expected.as_bytes())
}

/// Whether the PHC string was made with weaker parameters than today's, so
/// it should be recomputed now that the password is known.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let value = |name: &str| parsed.params.get_decimal(name).unwrap_or(0);
    parsed.algorithm.as_str() != "argon2id"
        || value("m") < MEMORY_KIB
        || value("t") < ITERATIONS
        || value("p") < LANES
}

/// The result of checking a password with [`Hasher::verify`].
#[derive(Debug)]
pub struct Verdict {
    /// The password matches the hash.
    pub matches: bool,
    /// It matches, but the hash uses weaker parameters than today's.
    pub needs_rehash: bool,
    /// The password, handed back for a rehash.
    pub password: SecretString,
}

type Job = Box<dyn FnOnce() + Send>;

/// Nice value of the hashing threads.
const HASHING_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority, so that a flood of
/// password logins yields the CPU to the workers serving tokens and pages
/// (on Linux the nice value belongs to the thread, not the process).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)
    {
        tracing::warn!(error = %e, "could not lower a hashing thread's priority");
    }
}

/// How long a hashing thread keeps its working memory with no hash to do.
///
/// Reusing the 19 MiB between hashes spares the page faults of a fresh
/// allocation (about a third of a hash's time); keeping it for ever left
/// each hashing thread's 19 MiB resident long after the last login. So a
/// thread frees it once its queue has been empty this long; the allocator
/// serves a block this large with its own mapping and gives it back to the
/// system when freed (benches/README.md measures the RSS).
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// A hashing thread's loop: runs jobs until the hasher is dropped, freeing
/// the working memory whenever the queue stays empty for [`IDLE_RELEASE`].
fn serve_jobs(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut holding = false;
    loop {
        let job = {
            let Ok(receiver) = queue.lock() else { return };
            if holding {
                receiver.recv_timeout(IDLE_RELEASE)
            } else {
                receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
            }
        };
        match job {
            Ok(job) => {
                job();
                holding = true;
            }
            Err(RecvTimeoutError::Timeout) => {
                release_working_memory();
                holding = false;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Frees this thread's argon2 working memory (see [`IDLE_RELEASE`]).
fn release_working_memory() {
    WORKING_MEMORY.with(|memory| *memory.borrow_mut() = Vec::new());
}

/// Runs password hashing off the async runtime on a fixed set of threads.
///
/// A fixed set, rather than tokio's blocking pool, bounds both the CPU given
/// to hashing and its memory: each argon2id hash allocates 19 MiB, and the
/// allocator keeps that in the arena of whichever thread ran it, so hashes
/// spread over a growing pool of blocking threads left hundreds of MiB
/// resident after a login flood (measured by `benches/run`).
#[derive(Clone, Debug)]
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Hasher {
    /// A hasher with `concurrency` threads; more requests wait in its queue.
    /// The threads end when the last clone of the hasher is dropped.
    pub fn new(concurrency: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..concurrency.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("kagi-argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    serve_jobs(&queue);
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs.send(job).map_err(|_| {
            Error::Internal(anyhow::anyhow!("the password hashing threads are gone"))
        })?;
        rx.await.map_err(|e| Error::Internal(e.into()))
    }

    /// [`hash`] on the hashing threads.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        self.run(move || hash(&password)).await?
    }

    /// [`verify`] on the hashing threads, also telling whether to rehash.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<Verdict> {
        self.run(move || {
            let matches = verify(&password, &phc);
            Verdict {
                matches,
                needs_rehash: matches && needs_rehash(&phc),
                password,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_has_todays_parameters_and_matches_no_password() {
        let dummy = dummy_hash();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(!needs_rehash(&dummy), "the same work as a real hash");
        assert_ne!(dummy, dummy_hash(), "random each time");
        assert!(!verify(
            &SecretString::from("correct horse battery"),
            &dummy
        ));
        let real = hash(&SecretString::from("correct horse battery")).unwrap();
        assert_eq!(real.len(), dummy.len(), "indistinguishable in shape");
    }

    #[test]
    fn an_idle_hashing_thread_gives_its_working_memory_back() {
        std::thread::spawn(|| {
            hash(&SecretString::from("correct horse battery")).unwrap();
            let held = WORKING_MEMORY.with(|m| m.borrow().len());
            assert_eq!(
                held, MEMORY_KIB as usize,
                "one block per KiB, kept for the next hash"
            );
            release_working_memory();
            assert_eq!(WORKING_MEMORY.with(|m| m.borrow().capacity()), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash(&SecretString::from("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&SecretString::from("correct horse"), &phc));
        assert!(!verify(&SecretString::from("correct horsf"), &phc));
        assert!(!verify(&SecretString::from("x"), "not a phc string"));
    }

    #[test]
    fn hashes_of_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let theirs = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(verify(&SecretString::from("correct horse"), &theirs));
        let ours = hash(&SecretString::from("correct horse")).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", &parsed)
                .is_err()
        );
    }

    #[test]
    fn a_hash_asking_for_absurd_memory_is_refused_without_running() {
        let phc = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(!verify(&SecretString::from("x"), phc));
    }

    #[test]
    fn hashes_with_weaker_parameters_are_marked_for_rehash() {
        use argon2::password_hash::PasswordHasher as _;
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        let strong = hash(&SecretString::from("pw")).unwrap();
        assert!(!needs_rehash(&strong));
    }

    #[test]
    fn the_policy_counts_code_points_not_bytes() {
        let check = |p: &str| check_policy(&SecretString::from(p), "C0001234", &[]);
        assert!(check("パスワード安全").is_err()); // 7 characters
        assert!(check("パスワード安全だ").is_ok()); // 8 characters
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(257)).is_err());
        // NFD "が" is two code points but one character after NFC.
        assert!(check("パスワード安全か\u{3099}").is_ok());
        assert!(check("パスワード安か\u{3099}").is_err());
    }

    #[test]
    fn common_easy_and_listed_passwords_are_refused() {
        for bad in [
            "password",
            "PASSWORD1",
            "12345678",
            "qwertyuiop",
            "c0001234",
            "zzzzzzzzzz",
        ] {
            assert!(
                check_policy(&SecretString::from(bad), "C0001234", &[]).is_err(),
                "{bad}"
            );
        }
        let listed = vec!["correct horse".to_owned()];
        assert!(check_policy(&SecretString::from("Correct Horse"), "C1", &listed).is_err());
        assert!(check_policy(&SecretString::from("correct horse battery"), "C1", &listed).is_ok());
    }

    #[test]
    fn composed_and_decomposed_forms_of_a_password_are_the_same_password() {
        let phc = hash(&SecretString::from("パスワードが長い")).unwrap();
        assert!(verify(
            &SecretString::from("パスワードか\u{3099}長い"),
            &phc
        ));
    }
}
