//! What every target needs besides its checks (those are in `patrol::fuzzing`).

use std::ptr::null_mut;

/// Makes a stack overflow a crash libFuzzer reports and saves the input of.
///
/// libFuzzer's `main` replaces Rust's, so Rust's stack-overflow handler is never set up,
/// and without an alternate signal stack no handler can run on an overflowed stack: the
/// kernel kills the process and the input is lost. This gives the main thread an
/// alternate stack and a SIGSEGV handler on it that aborts; libFuzzer keeps the handler
/// (it runs it in place of its own) and reports the abort as a crash, saving the input.
pub fn catch_stack_overflow() {
    const SIZE: usize = 1 << 20;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: `alt` describes memory leaked for the life of the process; the handler only
    // calls async-signal-safe functions (write, abort).
    unsafe {
        libc::sigaltstack(&alt, null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_segv as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSEGV, &action, null_mut());
    }
}

extern "C" fn on_segv(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    const MESSAGE: &[u8] =
        b"\n==patrol-fuzz== SIGSEGV: most likely a stack overflow (recursion without a bound)\n";
    // SAFETY: async-signal-safe calls only.
    unsafe {
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::abort();
    }
}
