# Shared by fuzz/run and fuzz/ci (sourced, not run): installs cargo-fuzz, builds the
# targets, and lays out a corpus directory from the committed seeds and the project's own
# config files.

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$FUZZ_DIR")"
TARGETS=(parse edit samples)
CARGO_FUZZ_VERSION=0.13.2

# The machine has only the pinned stable toolchain: cargo-fuzz runs on it with `-s none`
# (no sanitizer, which would need nightly); the coverage instrumentation (SanitizerCoverage
# through `-Cpasses=sancov-module`) and libFuzzer itself work on stable.
FUZZ_FLAGS=(--sanitizer none --debug-assertions)

# Coverage instrumentation only for the crates the targets run through (see rustc-wrapper):
# instrumenting wasmtime and cranelift as well made the build several times slower.
export RUSTC_WRAPPER="$FUZZ_DIR/rustc-wrapper"

ensure_cargo_fuzz() {
    if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
        echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
        cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
    fi
}

build_targets() {
    (cd "$FUZZ_DIR" && cargo fuzz build "${FUZZ_FLAGS[@]}" "$@")
}

# The selector byte of the `parse` target for a file of the project (the order of
# `FORMATS` in host/src/fuzzing/parse.rs), or nothing for a file it does not read.
parse_selector() {
    case "$1" in
        *.nft) echo 14 ;;
        *.hcl) echo 12 ;;
        *consul*.json) echo 13 ;;
        *.rb) echo 11 ;;
        *.service) echo 3 ;;
        *.crt | *.pem | *.key) echo 15 ;;
        *pgbouncer*.ini) echo 10 ;;
        *pg_autoctl*.cfg) echo 9 ;;
        *pgbackrest*.conf) echo 8 ;;
        *haproxy*.cfg) echo 7 ;;
        *ident*.conf | */pg-ident/*.conf) echo 5 ;;
        *hba*.conf | */pg-hba/*.conf | */pg-hba/includes/*.txt) echo 4 ;;
        *postgresql*.conf | */postgresql-conf/*.conf) echo 6 ;;
        */etcd | *etcd*.yml | *etcd*.yaml) echo 1 ;;
        *topology*.yaml | *topology*.yml) echo 2 ;;
        *samples*.yaml | *samples*.json) ;;
        *.yml | *.yaml) echo 0 ;;
    esac
}

# Writes the byte with the decimal value $1.
byte() {
    printf "\\$(printf '%03o' "$1")"
}

# Fills directory $2 with the seeds of target $1.
seed_corpus() {
    local target="$1" dir="$2" file sel n=0
    mkdir -p "$dir"
    cp "$FUZZ_DIR/seeds/$target"/* "$dir"/
    case "$target" in
        parse)
            while IFS= read -r -d '' file; do
                sel="$(parse_selector "$file")"
                [ -n "$sel" ] || continue
                n=$((n + 1))
                { byte "$sel"; cat "$ROOT/$file"; } >"$dir/project-$n"
            done < <(cd "$ROOT" && find examples tests/fixtures -type f -print0)
            ;;
        edit)
            # Each config as a file to edit: YAML by pointer, the others by line.
            while IFS= read -r -d '' file; do
                n=$((n + 1))
                case "$file" in
                    *.yml | *.yaml | *.json)
                        { byte 1; cat "$ROOT/$file"; printf '\0s/restapi/authentication/username="patroni"\0r/bootstrap/dcs\0s/a/-=[1]'; } >"$dir/project-$n" ;;
                    *)
                        { byte 0; cat "$ROOT/$file"; byte 0; byte 2; byte 1; byte 0; byte 9; printf 'replaced\n'; byte 5; byte 0; byte 1; byte 8; printf 'inserted'; } >"$dir/project-$n" ;;
                esac
            done < <(cd "$ROOT" && find examples tests/fixtures/stack -type f ! -name '*.crt' ! -name '*.key' ! -name '*.pem' -print0)
            ;;
        samples)
            while IFS= read -r -d '' file; do
                n=$((n + 1))
                cp "$ROOT/$file" "$dir/project-$n"
            done < <(cd "$ROOT" && find examples policies -path '*/target' -prune -o \( -name '*samples*.yaml' -o -name '*samples*.json' \) -type f -print0)
            ;;
    esac
}
