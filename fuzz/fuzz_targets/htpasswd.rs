//! htpasswd file text: parsing keeps only well-formed bcrypt entries, and
//! verifying any password against any entry never panics.
#![no_main]

use berth::http::auth::Htpasswd;
use libfuzzer_sys::fuzz_target;

/// Costs above this are skipped: bcrypt at cost 31 takes hours, and what
/// they exercise (more rounds) is no different code.
const MAX_COST: u32 = 5;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The last line is also tried as a password, the way a client sends it.
    let password = text.lines().last().unwrap_or_default();
    for (user, hash) in Htpasswd::parse(text) {
        assert!(!user.contains(':') && !user.contains('\n') && !user.starts_with('#'), "user {user:?}");
        assert!(["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)), "hash {hash:?}");
        assert_eq!(hash.trim(), hash, "hash keeps whitespace");
        let cost = hash[4..].split('$').next().and_then(|c| c.parse::<u32>().ok());
        if cost.is_none_or(|c| c <= MAX_COST) {
            Htpasswd::verify(password, &hash);
            Htpasswd::verify(&user, &hash);
        }
    }
});
