//! Where the configuration comes from: argument, `REGISTRY_CONFIGURATION_PATH`,
//! the default paths, or the embedded default.

use std::path::PathBuf;

use super::*;

#[test]
fn the_file_is_the_argument_then_the_variable_then_the_first_default_that_exists() {
    let dir = tempfile::tempdir().unwrap();
    let [arg, from_env, first, second] = ["arg.yml", "env.yml", "first.yml", "second.yml"].map(|n| dir.path().join(n));
    for f in [&arg, &from_env, &second] {
        std::fs::write(f, "").unwrap();
    }
    let defaults = [first.clone(), second.clone()];
    let env = vars(&[("REGISTRY_CONFIGURATION_PATH", from_env.to_str().unwrap())]);
    assert_eq!(locate(Some(&arg), &env, &defaults), Some(arg.clone()));
    assert_eq!(locate(None, &env, &defaults), Some(from_env));
    assert_eq!(locate(None, &vars(&[("REGISTRY_CONFIGURATION_PATH", "")]), &defaults), Some(second.clone()));
    std::fs::write(&first, "").unwrap();
    assert_eq!(locate(None, &[], &defaults), Some(first));
    assert_eq!(locate(None, &[], &[dir.path().join("none.yml")]), None);
    assert_eq!(DEFAULT_PATHS, ["/etc/distribution/config.yml", "/etc/docker/registry/config.yml"]);
}

#[test]
fn load_reads_the_file_and_applies_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, "version: 0.1\nstorage: {inmemory: }\nhttp: {addr: ':7000'}\n").unwrap();
    let c = Config::load(
        None,
        vars(&[("REGISTRY_CONFIGURATION_PATH", file.to_str().unwrap()), ("REGISTRY_HTTP_ADDR", "127.0.0.1:7001")]),
    )
    .unwrap();
    assert_eq!((c.addr.as_str(), c.origin.file.clone()), ("127.0.0.1:7001", Some(file)));
    assert_eq!(c.origin.variables, ["REGISTRY_HTTP_ADDR"]);
    let missing = dir.path().join("missing.yml");
    let errors = messages(Config::load(Some(&missing), Vec::new()));
    assert!(errors[0].starts_with(&format!("reading configuration {}", missing.display())), "{errors:?}");
}

#[test]
fn the_embedded_default_takes_the_environment_too() {
    let c = Config::default();
    assert_eq!(c.addr, "127.0.0.1:5000");
    assert_eq!(
        c.storage.driver,
        StorageDriver::Filesystem(Filesystem { rootdirectory: PathBuf::from("registry-data"), maxthreads: 100 })
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = build(
        EMBEDDED,
        None,
        vars(&[("REGISTRY_STORAGE_DELETE_ENABLED", "true"), ("REGISTRY_HTTP_ADDR", ":5001")]),
        true,
    )
    .unwrap();
    assert!(c.storage.delete.enabled);
    assert_eq!(c.addr, "0.0.0.0:5001");
    assert_eq!(c.origin.file, None);
}
