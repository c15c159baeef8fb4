//! Fuzz target `parse`: the input encoding and the checks are in `patrol::fuzzing::parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: patrol_fuzz::catch_stack_overflow(),
    |data: &[u8]| patrol::fuzzing::parse::run(data)
);
