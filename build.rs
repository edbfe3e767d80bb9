//! The PostgreSQL tests are compiled in only when `CRIER_TEST_POSTGRES_URL` names a
//! server to run them against (`.ci/postgres.sh` starts one and sets it): without
//! it they do not exist, so none is skipped in silence.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(crier_postgres)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CRIER_TEST_POSTGRES_URL");
    if std::env::var_os("CRIER_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=crier_postgres");
    }
}
