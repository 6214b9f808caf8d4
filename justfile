# Conveniences over plain cargo commands (`cargo install just` to use them).

# Run the service (SQLite by default: no database server needed).
run:
    cargo run -p pricesync -- serve

# Apply database migrations and exit.
migrate:
    cargo run -p pricesync -- migrate

# Run every test (PostgreSQL suites too when PostgreSQL is available).
test:
    cargo test --workspace

# Benchmarks: store writes of a 26,000-model list on SQLite and PostgreSQL;
# a price card at an instant with 10,000 history rows; HTTP load (triggers,
# reads, the cost API); parsing + validating a 22,000-model Featherless and
# a 1,000-model OpenRouter list (time and peak memory); the engine: trigger
# -> job started, full syncs from a local mock, dead-worker rescue
# (~30-40 s); the cost function.
bench:
    cargo bench -p pricesync-store --bench apply_price_list
    cargo bench -p pricesync-store --bench card_at_instant
    cargo bench -p pricesync --bench http_load
    cargo bench -p pricesync --bench client
    cargo bench -p pricesync-providers --bench parse_lists
    cargo bench -p pricesync-engine --bench sync
    cargo bench -p pricesync-domain --bench cost

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs.
ci:
    bash .ci/run
