//! A seeded random source (fastrand's): picks sizes, moments and operations,
//! reproducibly from the printed seed.

/// Random numbers from a 64-bit seed.
#[derive(Debug, Clone)]
pub struct Rng(fastrand::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n)
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0.u64(low..high)
    }

    /// True with the given percentage.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.0.fill(&mut out);
        out
    }

    /// A new source for a sub-task, so tasks do not share one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.0.fork())
    }
}

/// The seed of a run: `BERTH_SEED` to replay one, else the clock. Printed,
/// so a failure can be replayed.
pub fn seed() -> u64 {
    let seed = std::env::var("BERTH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64
    });
    println!("seed: BERTH_SEED={seed}");
    seed
}
