//! The one seeded random stream of biotwin: SplitMix64 (Steele, Lea & Flood
//! 2014, "Fast splittable pseudorandom number generators"), with uniform and
//! standard-normal (Box–Muller) draws, and the per-run seed finaliser every
//! Monte Carlo uses.
//!
//! SplitMix64 adds the golden-ratio increment 0x9E37_79B9_7F4A_7C15 to a
//! 64-bit state and returns the state passed through a fixed bijective
//! finaliser. It is small, fast, passes BigCrush for this use, and — the
//! reason biotwin owns it rather than taking a library generator — it is
//! fixed forever: shipped data sets (`training-data/cho-platform`,
//! `training-data/cho-structural`), ensemble forecasts and trained networks
//! are reproduced bit for bit from their seeds, so a draw sequence here must
//! never change.
//!
//! Several callers predate this module and made slightly different choices
//! (a half-open or an open unit interval, one or two normals per Box–Muller
//! pair). Each choice is a separate, documented method so that every
//! caller's stream stays exactly what it was:
//!
//! | draw | interval / method | used by |
//! |---|---|---|
//! | [`SplitMix64::uniform`] | [0, 1), k·2⁻⁵³ | data generator |
//! | [`SplitMix64::uniform_open`] | (0, 1), (k + ½)·2⁻⁵³ | NN weights, ensemble, test noise |
//! | [`SplitMix64::normal`] | one normal per pair, u₁ = 1 − `uniform` | data generator |
//! | [`SplitMix64::normal_open`] | one normal per pair, both `uniform_open` | test noise |
//! | [`PairedNormals::normal`] | both normals of a pair, `uniform_open` | live ensemble |
//!
//! Where a caller needs a general-purpose generator with distributions
//! (the Monte Carlo input sampling), it seeds `rand`'s `StdRng` from
//! [`run_seed`]; the per-run seed is what must be shared, and it lives here.

use std::f64::consts::TAU;

/// The golden-ratio increment of SplitMix64 (2⁶⁴/φ, odd).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// 2⁻⁵³: the spacing of 53-bit uniforms.
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// The SplitMix64 finaliser (variant 13 of Stafford's mix): a bijection on
/// 64-bit words with full avalanche.
#[inline]
fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One step of SplitMix64 from state `x`: the first output of
/// `SplitMix64::new(x)`. A stateless mixer for deriving reproducible
/// sub-seeds from one user seed.
pub fn mix(x: u64) -> u64 {
    finalise(x.wrapping_add(GOLDEN))
}

/// The per-run stream seed of every Monte Carlo in biotwin (core, transfer
/// study): the SplitMix64 finaliser of `seed ^ (run·golden + 0xD1B5_4A32_D192_ED03)`,
/// so run `run`'s draws depend on the seed and its index only — not on how
/// many runs there are or which thread ran them.
pub fn run_seed(seed: u64, run: u64) -> u64 {
    finalise(seed ^ run.wrapping_mul(GOLDEN).wrapping_add(0xD1B5_4A32_D192_ED03))
}

/// A SplitMix64 stream. `Clone` copies the position: a clone draws the same
/// numbers as the original from that point on.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream whose state starts at `seed` (the first output is
    /// [`mix`]`(seed)`).
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        finalise(self.0)
    }

    /// Uniform in [0, 1): the top 53 bits times 2⁻⁵³ (0 is possible, 1 is
    /// not).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// Uniform in (0, 1): the top 53 bits plus ½, times 2⁻⁵³ (neither end is
    /// possible, so `ln` of it is always finite).
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * UNIT
    }

    /// Standard normal by Box–Muller, one value per call (the sine partner is
    /// discarded): `sqrt(−2 ln u₁)·cos(2π u₂)` with u₁ = 1 − [`uniform`](Self::uniform)
    /// ∈ (0, 1] and then u₂ = [`uniform`](Self::uniform). Two draws per call.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    /// Standard normal by Box–Muller, one value per call, from two
    /// [`uniform_open`](Self::uniform_open) draws:
    /// `sqrt(−2 ln u₁)·cos(2π u₂)`.
    pub fn normal_open(&mut self) -> f64 {
        let u1 = self.uniform_open();
        let u2 = self.uniform_open();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }

    /// Lognormal multiplier with median 1 and coefficient of variation `cv`:
    /// `exp(s·z)` with s² = ln(1 + cv²) and z from [`normal`](Self::normal).
    pub fn lognormal(&mut self, cv: f64) -> f64 {
        let s = (1.0 + cv * cv).ln().sqrt();
        (s * self.normal()).exp()
    }

    /// An index in `0..n` (0 for `n = 0`), from one [`uniform`](Self::uniform)
    /// draw.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }
}

/// Standard normals using both values of each Box–Muller pair: u₁, u₂ from
/// [`SplitMix64::uniform_open`], r = sqrt(−2 ln u₁), a = 2π u₂; the call
/// that draws the pair returns r·cos a, the next returns r·sin a.
#[derive(Debug, Clone)]
pub struct PairedNormals {
    stream: SplitMix64,
    spare: Option<f64>,
}

impl PairedNormals {
    /// Normals from `SplitMix64::new(seed)`.
    pub fn new(seed: u64) -> PairedNormals {
        PairedNormals {
            stream: SplitMix64::new(seed),
            spare: None,
        }
    }

    /// The underlying uniform stream (a uniform draw between normals does
    /// not discard a cached sine partner).
    pub fn stream(&mut self) -> &mut SplitMix64 {
        &mut self.stream
    }

    /// Next standard normal.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.stream.uniform_open().ln()).sqrt();
        let a = TAU * self.stream.uniform_open();
        self.spare = Some(r * a.sin());
        r * a.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference sequence of SplitMix64 from seed 1234567 (Vigna's
    /// `splitmix64.c`), so the stream cannot drift unnoticed.
    #[test]
    fn matches_the_reference_sequence() {
        let mut r = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
        assert_eq!(mix(1_234_567), got[0]);
    }

    #[test]
    fn uniforms_stay_in_their_intervals_and_normals_have_unit_moments() {
        let mut r = SplitMix64::new(42);
        let n = 200_000;
        let mut s = [0.0f64; 2];
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            let v = r.uniform_open();
            assert!(v > 0.0 && v < 1.0);
            let z = r.normal();
            s[0] += z;
            s[1] += z * z;
        }
        let mean = s[0] / n as f64;
        let var = s[1] / n as f64 - mean * mean;
        // Standard error of the mean 1/sqrt(n) = 0.0022; of the variance
        // sqrt(2/n) = 0.0032: five of each.
        assert!(mean.abs() < 0.011, "mean {mean}");
        assert!((var - 1.0).abs() < 0.016, "variance {var}");
    }

    #[test]
    fn paired_normals_return_the_sine_partner_second() {
        let mut p = PairedNormals::new(7);
        let mut r = SplitMix64::new(7);
        let (u1, u2) = (r.uniform_open(), r.uniform_open());
        let rad = (-2.0 * u1.ln()).sqrt();
        assert_eq!(p.normal(), rad * (TAU * u2).cos());
        assert_eq!(p.normal(), rad * (TAU * u2).sin());
    }

    #[test]
    fn run_seeds_differ_per_run_and_per_seed() {
        assert_ne!(run_seed(1, 0), run_seed(1, 1));
        assert_ne!(run_seed(1, 0), run_seed(2, 0));
        assert_eq!(run_seed(9, 3), run_seed(9, 3));
    }
}
