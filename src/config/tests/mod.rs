//! The configuration layer against distribution's references, the seed
//! guides, the environment rule and bad values.

mod env;
mod errors;
mod keys;
mod load;
mod seeds;

use super::*;

/// Variables from `(name, value)` pairs.
fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Reads text and variables without the support check, or panics.
fn read(text: &str, env: &[(&str, &str)]) -> Config {
    Config::read(text, vars(env)).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

/// The messages of a failed build.
fn messages(result: Result<Config, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// A fixture from `testdata/`.
fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/testdata").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
