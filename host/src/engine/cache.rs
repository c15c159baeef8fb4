//! The on-disk cache of compiled policies.
//!
//! Compiling a component with Cranelift costs 100 ms or more; the CLI must not pay it on
//! every run. A component is precompiled once and stored under a key made of the SHA-256
//! of its bytes and the engine's compatibility hash (wasmtime version and every setting
//! that changes code generation), so a stale artifact can never be picked up. Writes go to
//! a temporary file in the same directory and are renamed into place: several `patrol`
//! processes may fill the cache at once, and a reader sees either nothing or a whole file.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// Whether a load compiled or came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Disabled,
}

pub struct Cache {
    dir: PathBuf,
    engine_key: String,
}

impl Cache {
    /// The cache in `$PATROL_CACHE_DIR`, else the user's cache directory; none when
    /// `PATROL_CACHE_DIR` is empty or no directory can be made.
    pub fn open(engine: &wasmtime::Engine) -> Option<Cache> {
        let dir = match std::env::var_os("PATROL_CACHE_DIR") {
            Some(d) if d.is_empty() => return None,
            Some(d) => PathBuf::from(d),
            None => dirs::cache_dir()?.join("patrol"),
        };
        create_private_dir(&dir).ok()?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(Cache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    pub fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome)> {
        let digest = Sha256::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(format!("{hex}-{}.cwasm", self.engine_key));
        if let Ok(artifact) = std::fs::read(&path) {
            // A damaged entry is recompiled and replaced below.
            if let Ok(component) = deserialize(engine, &artifact) {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        let component = deserialize(engine, &artifact)?;
        // A failed write only costs the next run a compile.
        let _ = self.store(&path, &artifact);
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Loads a precompiled artifact.
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> Result<Component> {
    // SAFETY: `deserialize` trusts its input to be wasmtime's own output. Artifacts come
    // from `precompile_component` just now, or from patrol's cache directory (made private
    // when patrol creates it), where they were written by an engine with the same
    // compatibility hash (part of the file name) and renamed into place only once complete.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, artifact) }?;
    Ok(component)
}

/// Creates the cache directory, readable only by its owner when patrol creates it (an
/// existing directory the user named is left as it is).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
