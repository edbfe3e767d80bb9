//! Which database a test's store is on. SQLite (a file in the test's folder) unless
//! the tests were built for PostgreSQL (`CRIER_TEST_POSTGRES_URL` at build time,
//! `cfg(crier_postgres)`) and `CRIER_TEST_BACKEND=postgres` is set when they run:
//! then each store is a new database on that server, named at random.
//! `.ci/postgres.sh` runs the suites that go through the services that way.

use std::path::Path;

use crier::store::Store;

/// A store for one test; see the module documentation.
pub async fn open_store(dir: &Path) -> Store {
    #[cfg(crier_postgres)]
    if std::env::var("CRIER_TEST_BACKEND").as_deref() == Ok("postgres") {
        let (_, url) = create_database().await;
        return Store::open_postgres(&url, dir).await.unwrap();
    }
    Store::open(&dir.join("crier.db")).await.unwrap()
}

#[cfg(crier_postgres)]
pub fn server_url() -> String {
    std::env::var("CRIER_TEST_POSTGRES_URL")
        .expect("CRIER_TEST_POSTGRES_URL was set when these tests were compiled")
}

#[cfg(crier_postgres)]
async fn admin() -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&server_url())
        .await
        .unwrap()
}

/// A new, empty database on the test server, named at random: its name and URL.
#[cfg(crier_postgres)]
pub async fn create_database() -> (String, String) {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("crier_test_{}", crier::model::hex(&bytes));
    let admin = admin().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_path(&format!("/{name}"));
    (name, url.to_string())
}

#[cfg(crier_postgres)]
pub async fn drop_database(name: &str) {
    let admin = admin().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
}
