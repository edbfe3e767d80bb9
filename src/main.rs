use std::process::ExitCode;

use clap::Parser;

/// jemalloc rather than the system allocator. crier's work is many threads making and
/// dropping small strings (parsing articles, rendering pages and digests), and glibc's
/// per-thread arenas grow a page at a time, each step an `mprotect` that stalls the
/// other threads' page faults. BENCHMARKS.md has the measurements. Its default
/// options: transparent huge pages for `crier build` (and off for every other command)
/// gained 0–8 % on the build, short of the 10 % that would keep them (issue #16).
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = crier::cli::Cli::parse();
    match crier::app::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
