//! VERP addresses: `bounces+{token}@domain` as each message's envelope sender and
//! `unsubscribe+{token}@domain` as its `List-Unsubscribe` mailto. The token is signed
//! (see `tokens::Signer::verp`); this module only takes addresses apart.

/// The token in `local+token@domain` when `local` and `domain` are the ones given
/// (compared without case: some servers lower-case what they return).
pub fn token_in<'a>(address: &'a str, local: &str, domain: &str) -> Option<&'a str> {
    let address = address.trim().trim_matches(['<', '>']);
    let (left, right) = address.rsplit_once('@')?;
    if !right.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (base, token) = left.split_once('+')?;
    (base.eq_ignore_ascii_case(local) && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::token_in;

    #[test]
    fn tokens_come_out_of_their_own_addresses_only() {
        let d = "news.example.org";
        assert_eq!(
            token_in("bounces+12-ab@news.example.org", "bounces", d),
            Some("12-ab")
        );
        assert_eq!(
            token_in("<BOUNCES+12-ab@News.Example.org>", "bounces", d),
            Some("12-ab")
        );
        assert_eq!(token_in("bounces@news.example.org", "bounces", d), None);
        assert_eq!(token_in("bounces+@news.example.org", "bounces", d), None);
        assert_eq!(token_in("bounces+1@other.example", "bounces", d), None);
        assert_eq!(
            token_in("unsubscribe+1@news.example.org", "bounces", d),
            None
        );
    }
}
