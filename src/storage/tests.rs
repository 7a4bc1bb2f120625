//! Driver conformance: every driver must pass the same checks.

use bytes::Bytes;
use futures_util::TryStreamExt;

use super::*;

async fn read_all(d: &dyn Driver, path: &str, offset: u64, len: Option<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = d.reader(path, offset, len).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn conformance(d: &dyn Driver) {
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

    d.rename("up/data", "a/b/d").await.unwrap();
    assert!(d.get("up/data").await.unwrap_err().is_not_found());
    let mut names = d.list("a/b").await.unwrap();
    names.sort();
    assert_eq!(names, ["c", "d"]);

    d.delete("a").await.unwrap();
    assert!(d.stat("a/b/c").await.unwrap_err().is_not_found());
    d.delete("never/was").await.unwrap();
    for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
        assert!(matches!(d.get(bad).await, Err(StorageError::InvalidPath(_))), "{bad:?}");
    }
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
