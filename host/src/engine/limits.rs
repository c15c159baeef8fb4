//! The limits every policy call runs under: time (epoch deadline), memory (a resource
//! limiter that remembers when it said no, so the failure can name the limit), and output.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// How often the engine's epoch advances; the time limit is counted in these ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// Limits for each policy call. The defaults are documented in the README.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time for one call (instantiate, metadata, validate-settings, evaluate).
    pub timeout: Duration,
    /// Linear memory of one policy instance, in bytes.
    pub memory: usize,
    /// Output of one call (findings, decisions, patches), in bytes.
    pub output: usize,
    /// How many policies are loaded and evaluated at once; 0: one per available core.
    pub jobs: usize,
}

impl Limits {
    /// [`Limits::jobs`], with 0 resolved to the number of available cores.
    pub fn jobs(&self) -> usize {
        match self.jobs {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            memory: 512 << 20,
            output: 256 << 20,
            jobs: 0,
        }
    }
}

/// How many bytes of a policy's own error message (or a trap's) are kept: the rest is
/// cut, saying how much (a policy's error is its output, and reports show it).
pub const MAX_MESSAGE: usize = 4096;

/// What the output limit counts for each record beyond its strings: about what the
/// largest report spends on one (a pretty-printed SARIF result or rule, a JUnit case), so
/// that the output limit bounds what is rendered from a policy's output, not only what
/// crossed the boundary (a million empty findings are no longer "small").
pub const FINDING_COST: usize = 1024;
pub const CODE_COST: usize = 1024;
pub const DETAIL_COST: usize = 256;
pub const PATCH_COST: usize = 256;

/// `s` cut to at most `max` bytes (at a character boundary), saying how much was cut.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} more bytes)", &s[..end], s.len() - end))
}

/// Starts the thread that advances the engine's epoch every [`TICK`]. It holds only a weak
/// handle, so it stops once the engine is gone.
pub fn start_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = weak.upgrade() {
            drop(engine);
            std::thread::sleep(TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    });
}

/// Caps memories, tables and instances of one store.
pub struct Limiter {
    memory: usize,
    pub memory_exceeded: bool,
}

impl Limiter {
    pub fn new(limits: &Limits) -> Self {
        Limiter {
            memory: limits.memory,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.memory_exceeded = true;
            // Fail the growth with a trap rather than `memory.grow == -1`: the guest's
            // allocator would turn -1 into an abort anyway, and the trap keeps the cause.
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded",
                self.memory
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

#[cfg(test)]
mod clip_tests {
    use super::clip;

    #[test]
    fn clips_at_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééé", 3), "é… (4 more bytes)");
        assert_eq!(clip(&"x".repeat(10), 4), "xxxx… (6 more bytes)");
    }
}
