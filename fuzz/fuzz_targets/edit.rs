//! Fuzz target `edit`: the input encoding and the checks are in `patrol::fuzzing::edit`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: patrol_fuzz::catch_stack_overflow(),
    |data: &[u8]| patrol::fuzzing::edit::run(data)
);
