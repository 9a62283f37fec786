//! `make bench`'s runner; see `zerobus_bench::runner`.

fn main() {
    zerobus_bench::runner::main();
}
