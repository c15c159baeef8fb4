//! The on-disk cache of compiled policies.
//!
//! Compiling a component with Cranelift costs 100 ms or more; the CLI must not pay it on
//! every run. A component is precompiled once and stored under a key made of the SHA-256
//! of its bytes and the engine's compatibility hash (wasmtime version and every setting
//! that changes code generation), so a stale artifact can never be picked up. Writes go to
//! a temporary file in the same directory and are renamed into place: several `patrol`
//! processes may fill the cache at once, and a reader sees either nothing or a whole file.
//!
//! An artifact is native code, so the cache is trusted only as far as it is checked
//! ([`super::trust`]): a directory another user can write to (or one above it) is not
//! used at all (a warning, and policies are compiled in memory); an artifact file must be
//! ours and writable by nobody else; and each artifact has a signature file patrol wrote
//! beside it (`<hash>-<engine>-3.sig`), an HMAC-SHA-256 (keyed by a random key kept in the
//! cache, mode 0600) over the component's hash, the engine key and the BLAKE3 hash of the
//! artifact bytes, verified before `deserialize`. The artifacts are megabytes and every
//! run hashes those of the policies it loads: BLAKE3 (SIMD, about 3× SHA-256 with the
//! SHA extensions here) keeps that from being most of a one-file check, and its
//! collision resistance is what the HMAC over the hash needs (a different artifact with
//! the same hash is what a forger would have to find). An artifact that fails any check is recompiled and
//! replaced, never loaded: a planted file, or patrol's own artifact of another component
//! copied under this one's name, is not code patrol runs.
//!
//! The artifact file holds wasmtime's bytes alone, so that wasmtime maps it into memory
//! (`deserialize_file`) instead of copying it: a run touches only the pages of the code it
//! calls. The bytes are checked through a read-only mapping of the same open file, and
//! wasmtime maps that same file again (by `/proc/self/fd` on Linux), so what was checked
//! is what runs. A writer able to change the file in place afterwards is the user
//! themselves (the file and its directory are theirs alone).
//!
//! Beside each artifact, the component's metadata (`<hash>-<engine>.meta`, same header and
//! checks): a run that needs a policy's `reads` and nothing else takes them from there
//! instead of instantiating the policy ([`super::Engine::known_metadata`]).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read as _;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use ring::hmac;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::trust;

/// Whether a load compiled or came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Disabled,
}

/// What an artifact's HMAC is computed under (the artifact file itself holds wasmtime's
/// bytes alone).
const MAGIC: &[u8; 16] = b"patrol-cwasm-v3\n";
/// The first bytes of every signature file patrol writes: it signs the artifact of the
/// same name, its body is that artifact's HMAC.
const SIG_MAGIC: &[u8; 16] = b"patrol-csig-v3\n\0";
/// The first bytes of every metadata file patrol writes (another magic: an artifact's
/// signature never verifies a metadata file, nor the reverse).
const META_MAGIC: &[u8; 16] = b"patrol-meta-v1\n\0";
/// Magic, the component's SHA-256, the HMAC.
const HEADER: usize = 16 + 32 + 32;
/// The key file's name in the cache directory.
const KEY_FILE: &str = "cache.key";

pub struct Cache {
    dir: PathBuf,
    engine_key: String,
    key: hmac::Key,
}

impl Cache {
    /// The cache in `$PATROL_CACHE_DIR`, else the user's cache directory; none when
    /// `PATROL_CACHE_DIR` is empty, no directory can be made, or it is not safe (then with
    /// a warning on stderr).
    pub fn open(engine: &wasmtime::Engine) -> Option<Cache> {
        let dir = match std::env::var_os("PATROL_CACHE_DIR") {
            Some(d) if d.is_empty() => return None,
            Some(d) => PathBuf::from(d),
            None => dirs::cache_dir()?.join("patrol"),
        };
        create_private_dir(&dir).ok()?;
        if let Err(why) = trust::check_dir(&dir, dirs::home_dir().as_deref()) {
            crate::say!(
                "warning: not using the compile cache `{}`: {why}; compiling in memory (make it yours and private: `chmod 700`, or set PATROL_CACHE_DIR)",
                dir.display()
            );
            return None;
        }
        let key = match read_or_create_key(&dir) {
            Ok(k) => k,
            Err(why) => {
                crate::say!(
                    "warning: not using the compile cache `{}`: {why}; compiling in memory",
                    dir.display()
                );
                return None;
            }
        };
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        Some(Cache {
            dir,
            engine_key,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    pub fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, CacheOutcome)> {
        let (code, sig) = (self.path(digest, "cwasm"), self.path(digest, "sig"));
        if let Some(component) = self.load_verified(engine, &code, &sig, digest) {
            return Ok((component, CacheOutcome::Hit));
        }
        // Missing, damaged, foreign or unsafe: compiled, and replaced below.
        let artifact = engine.precompile_component(bytes)?;
        let component = deserialize(engine, &artifact)?;
        // A failed write only costs the next run a compile.
        let _ = self.store_artifact(&code, &sig, digest, &artifact);
        Ok((component, CacheOutcome::Compiled))
    }

    /// The cached component with SHA-256 `digest`, if its artifact and signature pass
    /// every check; mapped from the file, not copied.
    fn load_verified(
        &self,
        engine: &wasmtime::Engine,
        code: &Path,
        sig: &Path,
        digest: &[u8; 32],
    ) -> Option<Component> {
        let header = self.read_verified(sig, digest, SIG_MAGIC)?;
        let (file, _) = trust::open_checked(code).ok()?;
        // SAFETY: a read-only private mapping of a file only this user can write (checked
        // by `open_checked`); its bytes are only read, and checked before any use.
        #[allow(unsafe_code)]
        let mapped = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        if header.len() != 32
            || hmac::verify(&self.key, &self.signed(digest, MAGIC, &mapped), &header).is_err()
        {
            return None;
        }
        drop(mapped);
        // The very file checked above, reopened through its descriptor where the system
        // allows (no window for another file to take the name); else by its name.
        let proc_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let path = if proc_fd.exists() { &proc_fd } else { code };
        // SAFETY: as in `deserialize`: the bytes are patrol's own artifact of this
        // component, checked by the HMAC just now.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(engine, path) }.ok()?;
        Some(component)
    }

    /// Writes an artifact, then its signature (a reader finds the signature only once the
    /// artifact it signs is whole in place).
    fn store_artifact(
        &self,
        code: &Path,
        sig: &Path,
        digest: &[u8; 32],
        artifact: &[u8],
    ) -> std::io::Result<()> {
        use std::io::Write;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(artifact)?;
        tmp.as_file().sync_all()?;
        tmp.persist(code).map_err(|e| e.error)?;
        let tag = hmac::sign(&self.key, &self.signed(digest, MAGIC, artifact));
        self.store(sig, digest, SIG_MAGIC, tag.as_ref())
    }

    /// The metadata stored for the component with SHA-256 `digest` (see
    /// [`super::meta`]), if there is one and it passes every check an artifact passes.
    pub fn metadata(&self, digest: &[u8; 32]) -> Option<Vec<u8>> {
        self.read_verified(&self.path(digest, "meta"), digest, META_MAGIC)
    }

    /// Stores a component's metadata beside its artifact; a failed write only costs the
    /// next run an instance.
    pub fn store_metadata(&self, digest: &[u8; 32], metadata: &[u8]) {
        let path = self.path(digest, "meta");
        if self.metadata(digest).as_deref() != Some(metadata) {
            let _ = self.store(&path, digest, META_MAGIC, metadata);
        }
    }

    /// Artifacts and their signatures carry a format number: the artifacts of earlier
    /// patrols (a header before the code) keep their names, so two versions sharing a
    /// cache do not replace each other's files on every run.
    fn path(&self, digest: &[u8; 32], ext: &str) -> PathBuf {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let format = if ext == "meta" { "" } else { "-3" };
        self.dir
            .join(format!("{hex}-{}{format}.{ext}", self.engine_key))
    }

    /// What an HMAC is computed over: the magic, the component's hash, the engine key and
    /// the hash of the body (an artifact's by BLAKE3, a small file's by SHA-256).
    fn signed(&self, digest: &[u8; 32], magic: &[u8; 16], body: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(16 + 32 + self.engine_key.len() + 32);
        message.extend_from_slice(magic);
        message.extend_from_slice(digest);
        message.extend_from_slice(self.engine_key.as_bytes());
        if magic == MAGIC {
            message.extend_from_slice(blake3::hash(body).as_bytes());
        } else {
            message.extend_from_slice(&Sha256::digest(body));
        }
        message
    }

    /// The body of a signature or metadata file of the component with SHA-256 `digest`, if
    /// the file passes every check.
    fn read_verified(&self, path: &Path, digest: &[u8; 32], magic: &[u8; 16]) -> Option<Vec<u8>> {
        let (mut file, meta) = trust::open_checked(path).ok()?;
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut data).ok()?;
        if data.len() < HEADER || &data[..16] != magic || &data[16..48] != digest {
            return None;
        }
        // Constant time: `verify` recomputes the tag and compares.
        hmac::verify(
            &self.key,
            &self.signed(digest, magic, &data[HEADER..]),
            &data[48..HEADER],
        )
        .ok()?;
        data.drain(..HEADER);
        Some(data)
    }

    fn store(
        &self,
        path: &Path,
        digest: &[u8; 32],
        magic: &[u8; 16],
        artifact: &[u8],
    ) -> std::io::Result<()> {
        use std::io::Write;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(magic)?;
        tmp.write_all(digest)?;
        tmp.write_all(hmac::sign(&self.key, &self.signed(digest, magic, artifact)).as_ref())?;
        tmp.write_all(artifact)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Loads a precompiled artifact.
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> Result<Component> {
    // SAFETY: `deserialize` trusts its input to be wasmtime's own output. Artifacts come
    // from `precompile_component` just now, or from patrol's cache after every check of
    // this module: a directory and file only the user can write, and an HMAC (keyed by
    // the cache's private key) over this component's hash, the engine key and the bytes.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, artifact) }?;
    Ok(component)
}

/// The cache's HMAC key: read (a private regular file of ours, 32 bytes), or made from the
/// system's random source and put in place atomically (no reader sees half a key).
fn read_or_create_key(dir: &Path) -> std::result::Result<Vec<u8>, String> {
    let path = dir.join(KEY_FILE);
    for _ in 0..2 {
        match trust::open_checked(&path) {
            Ok((mut file, _)) => {
                let mut key = Vec::new();
                file.read_to_end(&mut key)
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                if key.len() != 32 {
                    return Err(format!(
                        "`{}` is not a patrol cache key; remove it",
                        path.display()
                    ));
                }
                return Ok(key);
            }
            Err(why) if path.symlink_metadata().is_ok() => return Err(why.to_string()),
            Err(_) => {}
        }
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
            .map_err(|_| "no random source for the cache key".to_string())?;
        use std::io::Write;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
        tmp.write_all(&key)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| e.to_string())?;
        // Another patrol may have put its key in place first: then that one is read.
        if tmp.persist_noclobber(&path).is_ok() {
            return Ok(key.to_vec());
        }
    }
    Err(format!("cannot create `{}`", path.display()))
}

/// Creates the cache directory (and its missing parents) readable only by its owner; an
/// existing directory is left as it is, and checked.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
