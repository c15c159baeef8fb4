//! The `wasmtime::component::bindgen!` output for the `patrol:policy` world, kept private
//! to the engine; the types are re-exported as [`crate::wit`].

wasmtime::component::bindgen!({
    path: "../wit",
    world: "patrol-policy",
});
