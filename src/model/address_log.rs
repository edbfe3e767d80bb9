//! How logs name a recipient: a setting that `config` reads and `delivery` obeys, so
//! it lives here, below both. Plain data, no I/O.

/// How the delivery log names a recipient, in the one place it names one (a delivery
/// that failed): by the address, or by `hash:` and the first 16 hex digits of the
/// address's keyed hash, the one the suppression list keeps. Hashed, a server's reply
/// that echoes the address shows the hash there too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressLog {
    #[default]
    Plain,
    Hashed,
}
