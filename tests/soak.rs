//! The soak (issue 7, part 5): clients push, pull and delete their own
//! images against the real binary for a set time, while the server collects
//! garbage every 30 s and `berth garbage-collect` runs alongside on the same
//! root. Every answer is checked; the errors must be 0 and the server's
//! memory flat. `#[ignore]`d: tests/soak/run.sh runs it, in release.

#[path = "load/mod.rs"]
mod load;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use load::{
    client::{Client, Fail, Ledger, Pushed, Res},
    process::{BERTH, Berth, write_config},
    rng::{Rng, seed},
    tree,
};

/// Images a client keeps before it deletes its oldest.
const KEEP: usize = 24;

/// The server collects often, with a grace short enough that deleted
/// images really go during the run.
const GC_CONFIG: &str = "berth:\n  gc:\n    interval: 30s\n    grace: 10s\n    deleteuntagged: true\n";

/// Seconds between two runs of the outside `berth garbage-collect`.
const OUTSIDE_GC_EVERY: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What went wrong, and what was done.
#[derive(Default)]
struct Tally {
    requests: Arc<AtomicU64>,
    pushes: AtomicU64,
    pulls: AtomicU64,
    deletes: AtomicU64,
    collections: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 20 {
            eprintln!("ERROR: {what}");
            first.push(what);
        }
    }

    fn operations(&self) -> u64 {
        [&self.pushes, &self.pulls, &self.deletes, &self.collections].iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// One row of the table: seconds in, requests, errors, RSS in MiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    requests: u64,
    errors: u64,
    rss_mib: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
#[ignore = "takes minutes: run tests/soak/run.sh"]
async fn soak() {
    let minutes: f64 = env_or("BERTH_SOAK_MINUTES", 30.0);
    let clients: usize = env_or("BERTH_SOAK_CLIENTS", 32);
    let every = Duration::from_secs_f64(env_or("BERTH_SOAK_SAMPLE_SECS", 30.0));
    let mut rng = Rng::new(seed());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let config = write_config(dir.path(), &root, GC_CONFIG);
    let berth = Berth::start(&config);
    println!("soak: {minutes} min, {clients} clients, berth pid {} at {}", berth.pid(), berth.base);
    let tally = Arc::new(Tally::default());
    let (start, deadline) = (Instant::now(), Instant::now() + Duration::from_secs_f64(minutes * 60.0));
    let done = Arc::new(AtomicBool::new(false));
    let collector = outside_collector(config.clone(), tally.clone(), done.clone());
    let shared = Bytes::from(rng.bytes(256 << 10));
    let client = Client::new(&berth.base).counting(tally.requests.clone());
    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(run_client(client.clone(), id, rng.fork(), deadline, tally.clone(), shared.clone())))
        .collect();
    let mut samples = sample_until(berth.pid(), start, deadline, every, &tally).await;
    let mut kept = Vec::new();
    for task in tasks {
        kept.extend(task.await.expect("client task"));
    }
    done.store(true, Ordering::Relaxed);
    collector.join().expect("collector thread");
    for image in &kept {
        if let Err(e) = client.verify(image).await {
            tally.error(format!("final pull: {e:?}"));
        }
    }
    samples.push(sample(berth.pid(), start, &tally));
    print_row(samples.last().unwrap());
    berth.stop();
    for problem in tree::check(&root).problems {
        tally.error(format!("tree: {problem}"));
    }
    report(&tally, &samples, kept.len());
}

/// Runs `berth garbage-collect -m` on the root every few seconds until
/// `done`; a failed run is an error.
fn outside_collector(
    config: std::path::PathBuf,
    tally: Arc<Tally>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            let out = std::process::Command::new(BERTH).args(["garbage-collect", "-m", "-q"]).arg(&config).output();
            match out {
                Ok(out) if out.status.success() => _ = tally.collections.fetch_add(1, Ordering::Relaxed),
                Ok(out) => tally.error(format!("garbage-collect: {}", String::from_utf8_lossy(&out.stderr))),
                Err(e) => tally.error(format!("garbage-collect: {e}")),
            }
            let until = Instant::now() + OUTSIDE_GC_EVERY;
            while !done.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}

/// One client: pushes (to its own repository, or with its own tags to a
/// shared one), pulls and deletes only its own images, so any failure is
/// an error. Returns the images it still has.
async fn run_client(
    client: Client,
    id: usize,
    mut rng: Rng,
    deadline: Instant,
    tally: Arc<Tally>,
    shared: Bytes,
) -> Vec<Pushed> {
    let mut owned: Vec<Pushed> = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline {
        let roll = if owned.is_empty() { 0 } else { rng.below(100) };
        let outcome = match roll {
            0..35 => {
                n += 1;
                push(&client, id, n, &mut rng, &shared).await.map(|image| owned.push(image))
            }
            35..80 => {
                tally.pulls.fetch_add(1, Ordering::Relaxed);
                client.verify(&owned[rng.below(owned.len() as u64) as usize]).await
            }
            _ => {
                let image = owned.swap_remove(rng.below(owned.len() as u64) as usize);
                delete(&client, &image, roll < 90, &tally).await
            }
        };
        if roll < 35 && outcome.is_ok() {
            tally.pushes.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = outcome {
            tally.error(format!("client {id}: {e:?}"));
        }
        if owned.len() > KEEP {
            let oldest = owned.remove(0);
            if let Err(e) = delete(&client, &oldest, true, &tally).await {
                tally.error(format!("client {id}: {e:?}"));
            }
        }
    }
    owned
}

/// Pushes an image (a sixth of them as an index of two) under a new tag.
async fn push(client: &Client, id: usize, n: usize, rng: &mut Rng, shared: &Bytes) -> Res<Pushed> {
    let repo = if rng.chance(20) { "soak/shared".to_owned() } else { format!("soak/c{id}") };
    let tag = Some(format!("c{id}-{n}"));
    // What the ledger records is only needed after a crash.
    let ledger = Ledger::default();
    if rng.chance(16) {
        client.push_index(&repo, tag, rng, &ledger).await
    } else {
        let shared = rng.chance(30).then_some(shared);
        client.push_image(&repo, tag, shared, rng, &ledger).await
    }
}

/// Deletes an image by its tag or by its digest; either way it must then
/// be gone.
async fn delete(client: &Client, image: &Pushed, by_tag: bool, tally: &Tally) -> Res<()> {
    tally.deletes.fetch_add(1, Ordering::Relaxed);
    let tag = image.tag.as_deref().ok_or_else(|| Fail::Bad("an owned image without a tag".into()))?;
    client.delete_manifest(&image.repo, if by_tag { tag } else { &image.digest }).await
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
    kib.map_or(f64::NAN, |kib: f64| kib / 1024.0)
}

fn sample(pid: u32, start: Instant, tally: &Tally) -> Sample {
    Sample {
        secs: start.elapsed().as_secs_f64(),
        requests: tally.requests.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        rss_mib: rss_mib(pid),
    }
}

fn print_row(s: &Sample) {
    println!("{:>8.0} {:>10} {:>7} {:>9.1}", s.secs, s.requests, s.errors, s.rss_mib);
}

/// Samples the server every `every` until the deadline, printing a row each.
async fn sample_until(pid: u32, start: Instant, deadline: Instant, every: Duration, tally: &Tally) -> Vec<Sample> {
    println!("{:>8} {:>10} {:>7} {:>9}", "time s", "requests", "errors", "RSS MiB");
    let mut samples = vec![sample(pid, start, tally)];
    print_row(&samples[0]);
    while Instant::now() + every <= deadline {
        tokio::time::sleep(every).await;
        samples.push(sample(pid, start, tally));
        print_row(samples.last().unwrap());
    }
    samples
}

/// Prints the totals and the verdict; fails on any error or on memory that
/// grew: the last half's peak RSS must stay within 1.25 × the first
/// half's peak + 16 MiB.
fn report(tally: &Tally, samples: &[Sample], kept: usize) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let half = samples.last().unwrap().secs / 2.0;
    let peak =
        |keep: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| keep(s)).map(|s| s.rss_mib).fold(0.0, f64::max);
    let (first_peak, last_peak) = (peak(&|s| s.secs <= half), peak(&|s| s.secs > half));
    let flat = last_peak <= 1.25 * first_peak + 16.0;
    println!(
        "operations: {} ({} pushes, {} pulls, {} deletes, {} outside collections), {} requests, {kept} images kept",
        tally.operations(),
        load(&tally.pushes),
        load(&tally.pulls),
        load(&tally.deletes),
        load(&tally.collections),
        load(&tally.requests)
    );
    println!("errors: {}", load(&tally.errors));
    let (first, last) = (samples[0].rss_mib, samples.last().unwrap().rss_mib);
    println!("RSS MiB: first {first:.1}, last {last:.1}, max {:.1}", first_peak.max(last_peak));
    println!(
        "memory: {} (peak {last_peak:.1} MiB in the last half, limit 1.25 x {first_peak:.1} + 16 = {:.1})",
        if flat { "flat" } else { "GROWING" },
        1.25 * first_peak + 16.0
    );
    assert_eq!(load(&tally.errors), 0, "errors: {:#?}", tally.first_errors.lock().unwrap());
    assert!(flat, "memory grew");
}
