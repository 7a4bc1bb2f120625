//! config.yml plus `REGISTRY_*` overrides, as `berth serve` reads them.
//!
//! The input is the YAML text, then NUL-separated `NAME=VALUE` variables.
//! Invariants: reading never panics, and an accepted configuration prints
//! as YAML that reads back to the same printout (what `berth config` shows
//! is a configuration berth accepts).
#![no_main]

use berth::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('\0');
    let yaml = parts.next().unwrap_or_default();
    let env: Vec<(String, String)> = parts
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    // The stricter reading `berth serve` does (refusing what berth does not
    // implement) must not panic either.
    let _ = Config::parse(yaml);
    let Ok(config) = Config::read(yaml, env) else { return };
    let printed = config.to_yaml();
    let again = Config::read(&printed, Vec::new()).unwrap_or_else(|e| panic!("printout refused: {e}\n{printed}"));
    assert_eq!(again.to_yaml(), printed, "printout changes when read back");
});
