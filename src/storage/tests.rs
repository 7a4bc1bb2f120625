//! Driver conformance: every driver must pass the same checks.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::TryStreamExt;

use super::*;

async fn read_all(d: &dyn Driver, path: &str, offset: u64, len: Option<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = d.reader(path, offset, len).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn conformance(d: &dyn Driver) {
    conformance_at(d, Duration::from_millis(30)).await;
}

/// The checks, for a driver whose modification times are to the `tick`.
async fn conformance_at(d: &dyn Driver, tick: Duration) {
    assert!(d.get("a/b").await.unwrap_err().is_not_found());
    d.put("a/b/c", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(d.get("a/b/c").await.unwrap(), "hello");
    assert_eq!(read_all(d, "a/b/c", 1, Some(3)).await, b"ell");
    assert_eq!(read_all(d, "a/b/c", 2, None).await, b"llo");
    assert!(d.stat("a/b").await.unwrap().is_dir);
    assert_eq!(d.stat("a/b/c").await.unwrap().size, 5);

    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"12")).await.unwrap();
    w.write(Bytes::from_static(b"34")).await.unwrap();
    assert_eq!(w.size(), 4);
    w.commit().await.unwrap();
    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"junk")).await.unwrap();
    w.cancel().await.unwrap();
    assert_eq!(d.get("up/data").await.unwrap(), "1234");
    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"56")).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(d.get("up/data").await.unwrap(), "123456");
    let w = d.append("up/data").await.unwrap();
    w.cancel().await.unwrap();
    assert_eq!(d.get("up/data").await.unwrap(), "123456", "cancel keeps what close kept");
    d.put("up/data", Bytes::from_static(b"1234")).await.unwrap();

    d.rename("up/data", "a/b/d").await.unwrap();
    assert!(d.get("up/data").await.unwrap_err().is_not_found());
    let mut names = d.list("a/b").await.unwrap();
    names.sort();
    assert_eq!(names, ["c", "d"]);

    let mut dirs = d.walk_dirs("a", |name| name != "b").await.unwrap();
    dirs.sort();
    assert_eq!(dirs, ["b"]);
    d.put("a/x/_skip/y/z", Bytes::from_static(b"z")).await.unwrap();
    let mut dirs = d.walk_dirs("a", |name| !name.starts_with('_')).await.unwrap();
    dirs.sort();
    assert_eq!(dirs, ["b", "x", "x/_skip"]);
    assert!(d.walk_dirs("nothing/here", |_| true).await.unwrap().is_empty());

    d.put("m/1", Bytes::from_static(b"1")).await.unwrap();
    d.put("m/2/x", Bytes::from_static(b"2")).await.unwrap();
    d.put("m/3", Bytes::from_static(b"3")).await.unwrap();
    d.delete_all(&["m/1".into(), "m/2".into(), "m/none".into()]).await.unwrap();
    assert_eq!(d.list("m").await.unwrap(), ["3"]);

    stale_sweeps(d, tick).await;

    d.delete("a").await.unwrap();
    assert!(d.stat("a/b/c").await.unwrap_err().is_not_found());
    d.delete("never/was").await.unwrap();
    for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
        assert!(matches!(d.get(bad).await, Err(StorageError::InvalidPath(_))), "{bad:?}");
    }
}

/// `touch` and `delete_stale`: young markers keep their directories.
async fn stale_sweeps(d: &dyn Driver, tick: Duration) {
    for dir in ["g/old", "g/young", "g/touched", "g/nomarker"] {
        d.put(&format!("{dir}/x"), Bytes::from_static(b"x")).await.unwrap();
    }
    for dir in ["g/old", "g/young", "g/touched"] {
        d.put(&format!("{dir}/link"), Bytes::from_static(b"l")).await.unwrap();
    }
    // File times come from a coarse clock (a few ms behind `now`, or S3's
    // whole seconds).
    tokio::time::sleep(tick).await;
    let cutoff = std::time::SystemTime::now();
    tokio::time::sleep(tick).await;
    d.put("g/young/link", Bytes::from_static(b"l")).await.unwrap();
    let before = d.stat("g/touched/link").await.unwrap().modified;
    d.touch("g/touched/link").await.unwrap();
    assert!(d.stat("g/touched/link").await.unwrap().modified > before);
    assert_eq!(d.get("g/touched/link").await.unwrap(), "l", "a touch keeps the bytes");
    assert!(d.touch("g/none/link").await.unwrap_err().is_not_found());
    let dirs: Vec<String> = ["g/old", "g/young", "g/touched", "g/nomarker", "g/missing"].map(String::from).into();
    let removed = d.delete_stale(&dirs, "link", cutoff).await.unwrap();
    assert_eq!(removed, [true, false, false, true, false]);
    let mut left = d.list("g").await.unwrap();
    left.sort();
    assert_eq!(left, ["touched", "young"]);
    assert_eq!(d.get("g/young/x").await.unwrap(), "x");
    assert!(d.touch("g/old/link").await.unwrap_err().is_not_found());
    d.delete("g").await.unwrap();
}

/// Touches of every `dir/link`, each after a random lag below `max_lag`,
/// racing with one sweep of all `dirs`: every touch that succeeded left its
/// marker in place, and the sweep's answer says which markers are gone.
async fn race_touches_with_a_sweep<D: Driver>(
    d: &Arc<D>,
    dirs: &[String],
    cutoff: std::time::SystemTime,
    max_lag: Duration,
    round: usize,
) {
    let touches = dirs.iter().map(|dir| {
        let (d, dir) = (d.clone(), dir.clone());
        let lag = Duration::from_millis(fastrand::u64(0..=max_lag.as_millis() as u64));
        tokio::spawn(async move {
            tokio::time::sleep(lag).await;
            d.touch(&format!("{dir}/link")).await.is_ok().then_some(dir)
        })
    });
    let sweep = {
        let (d, dirs) = (d.clone(), dirs.to_vec());
        tokio::spawn(async move { d.delete_stale(&dirs, "link", cutoff).await.unwrap() })
    };
    let touched: Vec<String> = futures_util::future::join_all(touches).await.into_iter().flatten().flatten().collect();
    let removed = sweep.await.unwrap();
    for dir in &touched {
        assert!(d.stat(&format!("{dir}/link")).await.is_ok(), "round {round}: {dir} was touched, then removed");
    }
    for (dir, gone) in dirs.iter().zip(removed) {
        let exists = d.stat(&format!("{dir}/link")).await.is_ok();
        // A sweep that said it kept a marker kept it. One that removed it
        // may still find it back on S3: a touch's copy that read the object
        // before the delete can land after it, as a new version. Safe (the
        // touch succeeded and the marker is there), and only then allowed.
        assert!(exists != gone || (exists && touched.contains(dir)), "round {round}: {dir}: {gone} {exists}");
    }
}

/// Touches racing with sweeps of the same directories: every touch that
/// succeeded left its directory in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filesystem_touch_never_loses_to_a_sweep() {
    let root = tempfile::tempdir().unwrap();
    let d = Arc::new(Filesystem::open(root.path()).unwrap());
    for round in 0..40 {
        let dirs: Vec<String> = (0..64).map(|i| format!("r{round}/d{i}")).collect();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        for dir in &dirs {
            d.put(&format!("{dir}/link"), Bytes::from_static(b"l")).await.unwrap();
            let file = std::fs::File::options().write(true).open(root.path().join(dir).join("link")).unwrap();
            file.set_modified(old).unwrap();
        }
        let cutoff = std::time::SystemTime::now() - Duration::from_secs(60);
        race_touches_with_a_sweep(&d, &dirs, cutoff, Duration::ZERO, round).await;
    }
    assert_eq!(std::fs::read_dir(root.path().join(".berth-tmp")).unwrap().count(), 0, "sweeps leave no trash");
}

// Only the single node here: the cluster is tests/s3_cluster.rs's.
#[allow(dead_code)]
#[path = "../../tests/support/garage.rs"]
mod garage;

/// An S3 driver on a garage of its own, below `root` in the bucket.
async fn s3_on(g: &garage::Garage, root: &str) -> S3 {
    let yaml = format!("version: 0.1\nstorage:\n{}", g.storage_yaml(root));
    let config = crate::config::Config::parse(&yaml).unwrap();
    let crate::config::StorageDriver::S3(s3) = &config.storage.driver else { panic!("not s3") };
    S3::open(s3).await.unwrap()
}

#[tokio::test]
async fn s3_conforms() {
    let Some(g) = garage::Garage::start() else { return };
    // S3's Last-Modified is to the second.
    conformance_at(&s3_on(&g, "/conf").await, Duration::from_millis(1100)).await;
    conformance_at(&Cached::new(Arc::new(s3_on(&g, "cached").await), CACHE_TTL), Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn inmemory_conforms() {
    conformance(&InMemory::new()).await;
}

#[tokio::test]
async fn filesystem_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&Filesystem::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn cached_conforms() {
    conformance(&Cached::new(Arc::new(InMemory::new()), CACHE_TTL)).await;
    let dir = tempfile::tempdir().unwrap();
    conformance(&Cached::new(Arc::new(Filesystem::open(dir.path()).unwrap()), CACHE_TTL)).await;
}

/// Writes through the cache are seen at once, by every kind of read.
#[tokio::test]
async fn cached_sees_its_own_writes() {
    let d = Cached::new(Arc::new(InMemory::new()), Duration::from_secs(3600));
    assert!(d.get("r/t/link").await.unwrap_err().is_not_found());
    assert!(d.list("r").await.unwrap_err().is_not_found());
    d.put("r/t/link", Bytes::from_static(b"one")).await.unwrap();
    assert_eq!(d.get("r/t/link").await.unwrap(), "one");
    assert_eq!(d.list("r").await.unwrap(), ["t"]);
    d.put("r/t/link", Bytes::from_static(b"two!")).await.unwrap();
    assert_eq!(d.get("r/t/link").await.unwrap(), "two!");
    assert_eq!(d.stat("r/t/link").await.unwrap().size, 4);
    assert_eq!(read_all(&d, "r/t/link", 0, None).await, b"two!");
    d.delete("r").await.unwrap();
    assert!(d.get("r/t/link").await.unwrap_err().is_not_found());
    assert!(d.stat("r/t").await.unwrap_err().is_not_found());
    assert!(d.list("r").await.unwrap_err().is_not_found());
    d.put("s/x", Bytes::from_static(b"x")).await.unwrap();
    d.rename("s/x", "r/y").await.unwrap();
    assert!(d.get("s/x").await.unwrap_err().is_not_found());
    assert_eq!(d.list("r").await.unwrap(), ["y"]);
}

/// Appending changes an object without a put: its new size and bytes are
/// seen once the writer is done, however it ends.
#[tokio::test]
async fn cached_sees_appends() {
    let d = Cached::new(Arc::new(InMemory::new()), Duration::from_secs(3600));
    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"12")).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(d.stat("up/data").await.unwrap().size, 2);
    assert_eq!(d.get("up/data").await.unwrap(), "12");
    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"34")).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(d.stat("up/data").await.unwrap().size, 4);
    assert_eq!(d.get("up/data").await.unwrap(), "1234");
    let mut w = d.append("up/data").await.unwrap();
    w.write(Bytes::from_static(b"5")).await.unwrap();
    w.cancel().await.unwrap();
    assert_eq!(d.get("up/data").await.unwrap(), "1234");
}

/// A change made behind the cache's back (another process on the same
/// directory) is seen once the entry's time is up, not before.
#[tokio::test]
async fn cached_sees_outside_changes_after_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let outside = Filesystem::open(dir.path()).unwrap();
    let ttl = Duration::from_millis(300);
    let d = Cached::new(Arc::new(Filesystem::open(dir.path()).unwrap()), ttl);
    outside.put("r/link", Bytes::from_static(b"old")).await.unwrap();
    assert_eq!(d.get("r/link").await.unwrap(), "old");
    outside.put("r/link", Bytes::from_static(b"new")).await.unwrap();
    outside.delete("gone").await.unwrap();
    assert_eq!(d.get("r/link").await.unwrap(), "old", "served from the cache within the ttl");
    tokio::time::sleep(ttl).await;
    assert_eq!(d.get("r/link").await.unwrap(), "new");
    outside.delete("r").await.unwrap();
    tokio::time::sleep(ttl).await;
    assert!(d.get("r/link").await.unwrap_err().is_not_found());
}

/// Objects above `multipartcopythresholdsize` move and touch as multipart
/// copies, and appends to them copy the old bytes as parts: all keep every
/// byte. A writer that cancels leaves the object as it was.
#[tokio::test]
async fn s3_large_objects_copy_in_parts() {
    let Some(g) = garage::Garage::start() else { return };
    let yaml = format!(
        "version: 0.1\nstorage:\n{}    multipartcopythresholdsize: 5242880\n    multipartcopychunksize: 5242880\n",
        g.storage_yaml("big")
    );
    let config = crate::config::Config::parse(&yaml).unwrap();
    let crate::config::StorageDriver::S3(s3) = &config.storage.driver else { panic!("not s3") };
    let d = S3::open(s3).await.unwrap();
    let data: Vec<u8> = (0..12 * 1024 * 1024 + 5).map(|i: u32| (i.wrapping_mul(31) >> 3) as u8).collect();
    d.put("a/data", Bytes::from(data.clone())).await.unwrap();
    d.rename("a/data", "b/data").await.unwrap();
    assert!(d.stat("a/data").await.unwrap_err().is_not_found());
    assert!(d.get("b/data").await.unwrap() == data, "a multipart move keeps the bytes");
    let before = d.stat("b/data").await.unwrap().modified;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    d.touch("b/data").await.unwrap();
    assert!(d.stat("b/data").await.unwrap().modified > before);
    assert!(d.get("b/data").await.unwrap() == data, "a multipart touch keeps the bytes");

    // Another process continues the object: its first parts are copies.
    let other = S3::open(s3).await.unwrap();
    let mut w = other.append("b/data").await.unwrap();
    assert_eq!(w.size(), data.len() as u64);
    w.write(Bytes::from_static(b"tail")).await.unwrap();
    w.close().await.unwrap();
    let mut w = d.append("b/data").await.unwrap();
    w.write(Bytes::from(vec![7; 6 * 1024 * 1024])).await.unwrap();
    w.cancel().await.unwrap();
    let mut expected = data.clone();
    expected.extend_from_slice(b"tail");
    assert!(d.get("b/data").await.unwrap() == expected, "close kept the tail, cancel dropped its part");
    assert_eq!(read_all(&d, "b/data", expected.len() as u64 - 6, None).await, &expected[expected.len() - 6..]);
    assert!(read_all(&d, "b/data", expected.len() as u64, None).await.is_empty());
}

/// Touches racing with sweeps on S3: every touch that succeeded left its
/// marker in place (see `s3::sweep` for the window S3 leaves).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_touch_never_loses_to_a_sweep() {
    let Some(g) = garage::Garage::start() else { return };
    let d = Arc::new(s3_on(&g, "race").await);
    for round in 0..3 {
        let dirs: Vec<String> = (0..32).map(|i| format!("r{round}/d{i}")).collect();
        for dir in &dirs {
            d.put(&format!("{dir}/link"), Bytes::from_static(b"l")).await.unwrap();
            d.put(&format!("{dir}/other"), Bytes::from_static(b"o")).await.unwrap();
        }
        // S3's times are whole seconds: markers old by a second and more.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let cutoff = std::time::SystemTime::now();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        race_touches_with_a_sweep(&d, &dirs, cutoff, Duration::from_millis(600), round).await;
    }
}

/// A bucket that does not exist is a failure, never "no such object": a
/// registry must not answer 404 for a misconfigured storage.
#[tokio::test]
async fn s3_missing_bucket_is_an_error() {
    let Some(g) = garage::Garage::start() else { return };
    let yaml = format!("version: 0.1\nstorage:\n{}", g.storage_yaml("x").replace("bucket: berth-test", "bucket: nope"));
    let config = crate::config::Config::parse(&yaml).unwrap();
    let crate::config::StorageDriver::S3(s3) = &config.storage.driver else { panic!("not s3") };
    let d = S3::open(s3).await.unwrap();
    for result in [d.get("a/b").await.map(drop), d.list("a").await.map(drop), d.stat("a/b").await.map(drop)] {
        assert!(matches!(result, Err(StorageError::Io { .. })), "{result:?}");
    }
}
