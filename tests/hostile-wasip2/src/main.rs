//! Reads the environment and a file: on wasm32-wasip2 this makes the component import
//! `wasi:cli/environment` and `wasi:filesystem`, which patrol must refuse.
fn main() {
    let home = std::env::var("HOME").unwrap_or_default();
    let secret = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    println!("{home}{}", secret.len());
}
