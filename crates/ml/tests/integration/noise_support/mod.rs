//! Deterministic measurement noise for the synthetic-plant tests (shared by
//! the hybrid tests): splitmix64 uniforms and Box–Muller normals, so a test's
//! data are the same on every machine.

use biotwin_core::random::SplitMix64;

/// Core's SplitMix64 stream whose state starts at the seed, with open-interval
/// uniforms and one Box–Muller normal per call.
pub struct Noise(SplitMix64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(SplitMix64::new(seed))
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform_open()
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        self.0.normal_open()
    }
}
