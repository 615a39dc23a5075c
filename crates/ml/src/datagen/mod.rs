//! Synthetic plant data from the mechanistic platform CHO model: a design of
//! experiments over process conditions, run through a "plant" that is the
//! nominal model plus process noise and effects the nominal model lacks, and
//! observed through noisy, delayed instruments and assays.
//!
//! The generator is deterministic for a seed: it uses core's SplitMix64
//! stream (not `rand`, whose algorithms may change between versions), so the
//! same seed gives the same files on every platform and build.
//! `training-data/cho-platform/README.md` documents every choice; the
//! dataset there is rebuilt with `cargo run --release --example
//! generate_cho_dataset`.

pub mod structural;

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::manifest::BatchMeta;
use crate::data::tag_map::{TagMap, Variable};
use crate::data::{BatchRecord, LabSample, TimeSeries, write_dataset};
use crate::error::Error;
use biotwin_core::definition::recipe::EventKind;
use biotwin_core::simulation::{Scenario, load_process};

/// What to generate.
#[derive(Debug, Clone)]
pub struct ChoDoeOptions {
    /// The nominal process (model, recipe, vessel).
    pub process: std::path::PathBuf,
    /// Batches of the Latin hypercube inside the design space.
    pub n_interior: usize,
    /// Batches at (and slightly beyond) the corners of the design space, for
    /// extrapolation tests; numbered after the interior ones.
    pub n_edge: usize,
    /// Seed of every random draw (design, plant, instruments): the same seed
    /// gives the same dataset.
    pub seed: u64,
    /// Online sampling interval, seconds.
    pub online_interval_s: f64,
    /// Which plant runs the batches.
    pub plant: Plant,
    /// Known deviations: (model parameter, multiplier) applied to every
    /// batch after its process noise and mismatch (e.g. `k_d_amm` × 4: an
    /// ammonium-sensitive culture). Empty for the shipped datasets; used to
    /// make out-of-specification batches whose cause is known.
    pub deviations: Vec<(String, f64)>,
    /// Also record the harvest's residual host-cell DNA (`dna`, kg/m³,
    /// qPCR CV 15 %) among the end-of-batch CQAs. Off for the shipped
    /// datasets (their files stay as they are); its assay draw comes after
    /// every other draw of a batch, so turning it on leaves every other
    /// value of the batch unchanged.
    pub record_dna: bool,
}

/// The plant behind the instruments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plant {
    /// The nominal model with process noise and condition-dependent
    /// parameter mismatch (`training-data/cho-platform`).
    Platform,
    /// The same, plus two mechanisms the model lacks (a lactate shift and a
    /// second-order ammonium death law; `training-data/cho-structural`).
    Structural(structural::StructuralPlant),
}

impl ChoDoeOptions {
    /// The shipped settings on `process`: 30 interior and 6 edge batches, seed
    /// 20 251 122, online sampling every 1800 s, the `cho-platform` plant, no
    /// deviations, no DNA assay.
    pub fn new(process: impl Into<std::path::PathBuf>) -> ChoDoeOptions {
        ChoDoeOptions {
            process: process.into(),
            n_interior: 30,
            n_edge: 6,
            seed: 20_251_122,
            online_interval_s: 1800.0,
            plant: Plant::Platform,
            deviations: Vec::new(),
            record_dna: false,
        }
    }
}

/// A design factor: its manifest parameter, range in user units, and the map
/// from user units to SI (`si = user * factor + offset`).
pub struct Factor {
    /// Manifest parameter name (`agitation`, `shift_time`, ...).
    pub parameter: &'static str,
    /// Unit of `low` and `high` (`rpm`, `h`, ...).
    pub user_unit: &'static str,
    /// SI unit the manifest stores the parameter in.
    pub si_unit: &'static str,
    /// Low end of the design range, in `user_unit`.
    pub low: f64,
    /// High end of the design range, in `user_unit`.
    pub high: f64,
    /// Multiplier from `user_unit` to `si_unit`.
    pub factor: f64,
    /// Offset from `user_unit` to `si_unit` (in the SI unit; °C → K).
    pub offset: f64,
    /// What the factor is, for the tag map.
    pub description: &'static str,
}

/// The eight factors of the DoE (ranges in user units).
pub const FACTORS: [Factor; 8] = [
    Factor {
        parameter: "agitation",
        user_unit: "rpm",
        si_unit: "1/s",
        low: 200.0,
        high: 300.0,
        factor: 1.0 / 60.0,
        offset: 0.0,
        description: "agitation set-point",
    },
    Factor {
        parameter: "do_setpoint",
        user_unit: "% air saturation",
        si_unit: "1",
        low: 30.0,
        high: 50.0,
        factor: 0.01,
        offset: 0.0,
        description: "dissolved-oxygen set-point (fraction of air saturation)",
    },
    Factor {
        parameter: "ph_setpoint",
        user_unit: "-",
        si_unit: "1",
        low: 6.90,
        high: 7.10,
        factor: 1.0,
        offset: 0.0,
        description: "pH set-point",
    },
    Factor {
        parameter: "shift_time",
        user_unit: "h",
        si_unit: "s",
        low: 120.0,
        high: 168.0,
        factor: 3600.0,
        offset: 0.0,
        description: "time of the temperature shift",
    },
    Factor {
        parameter: "shift_temperature",
        user_unit: "C",
        si_unit: "K",
        low: 32.0,
        high: 34.5,
        factor: 1.0,
        offset: 273.15,
        description: "temperature after the shift",
    },
    Factor {
        parameter: "feed_scale",
        user_unit: "-",
        si_unit: "1",
        low: 0.8,
        high: 1.2,
        factor: 1.0,
        offset: 0.0,
        description: "multiplier of every bolus feed volume",
    },
    Factor {
        parameter: "feed_glucose",
        user_unit: "g/L",
        si_unit: "kg/m3",
        low: 100.0,
        high: 140.0,
        factor: 1.0,
        offset: 0.0,
        description: "glucose concentration of feed A",
    },
    Factor {
        parameter: "seeding_density",
        user_unit: "1e6 cells/mL",
        si_unit: "1/m3",
        low: 0.3,
        high: 0.7,
        factor: 1e12,
        offset: 0.0,
        description: "target viable-cell seeding density",
    },
];

/// The generator's stream: core's SplitMix64 with half-open uniforms and
/// one Box–Muller normal per call (`uniform`, `normal`, `lognormal`,
/// `below`), which reproduce the shipped data sets bit for bit.
pub use biotwin_core::random::SplitMix64;

/// Design points in coded units (0 = low, 1 = high of each factor): a Latin
/// hypercube of `n_interior` points, then `n_edge` corner points with two or
/// three factors pushed 15 % of the range beyond the design.
pub fn design(n_interior: usize, n_edge: usize, rng: &mut SplitMix64) -> Vec<[f64; 8]> {
    let mut pts = vec![[0.0; 8]; n_interior];
    for j in 0..8 {
        // Random permutation of the strata (Fisher-Yates).
        let mut perm: Vec<usize> = (0..n_interior).collect();
        for i in (1..n_interior).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        for (i, p) in pts.iter_mut().enumerate() {
            p[j] = (perm[i] as f64 + rng.uniform()) / n_interior as f64;
        }
    }
    for _ in 0..n_edge {
        let mut p = [0.0; 8];
        for v in p.iter_mut() {
            *v = if rng.uniform() < 0.5 { 0.0 } else { 1.0 };
        }
        let n_out = 2 + rng.below(2);
        for _ in 0..n_out {
            let j = rng.below(8);
            p[j] = if p[j] == 0.0 { -0.15 } else { 1.15 };
        }
        pts.push(p);
    }
    pts
}

/// Round to `sig` significant digits (instrument resolution; also keeps the
/// files small).
fn round_sig(x: f64, sig: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(sig - 1 - e);
    (x * scale).round() / scale
}

/// Variables of the dataset: (name, trajectory column, SI factor from the
/// column's unit, SI unit, description, noise: relative CV or absolute SD in
/// SI, relative?, significant digits).
struct Signal {
    name: &'static str,
    column: &'static str,
    to_si: f64,
    offset: f64,
    si_unit: &'static str,
    description: &'static str,
    noise: f64,
    relative: bool,
    sig: i32,
    /// Lab result delay, seconds (offline only).
    delay_s: f64,
}

const ONLINE: [Signal; 5] = [
    Signal {
        name: "temperature",
        column: "temperature_c",
        to_si: 1.0,
        offset: 273.15,
        si_unit: "K",
        description: "broth temperature (RTD probe, SD 0.05 K)",
        noise: 0.05,
        relative: false,
        sig: 5,
        delay_s: 0.0,
    },
    Signal {
        name: "ph",
        column: "ph",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "1",
        description: "broth pH (glass electrode, SD 0.01)",
        noise: 0.01,
        relative: false,
        sig: 4,
        delay_s: 0.0,
    },
    Signal {
        name: "dissolved_o2",
        column: "do_pct",
        to_si: 0.01,
        offset: 0.0,
        si_unit: "1",
        description: "dissolved O2, fraction of air saturation (optical probe, SD 0.01)",
        noise: 0.01,
        relative: false,
        sig: 3,
        delay_s: 0.0,
    },
    Signal {
        name: "pco2",
        column: "pco2_mmhg",
        to_si: 133.322_368,
        offset: 0.0,
        si_unit: "Pa",
        description: "dissolved CO2 partial pressure (CV 3 %)",
        noise: 0.03,
        relative: true,
        sig: 4,
        delay_s: 0.0,
    },
    Signal {
        name: "volume",
        column: "volume_l",
        to_si: 1e-3,
        offset: 0.0,
        si_unit: "m3",
        description: "broth volume from the load cell (CV 0.5 %)",
        noise: 0.005,
        relative: true,
        sig: 4,
        delay_s: 0.0,
    },
];

const OFFLINE: [Signal; 8] = [
    Signal {
        name: "viable_cells",
        column: "xv_1e6_cells_per_ml",
        to_si: 1e12,
        offset: 0.0,
        si_unit: "1/m3",
        description: "viable cell density (cell counter, CV 5 %, result 0.5 h after sampling)",
        noise: 0.05,
        relative: true,
        sig: 3,
        delay_s: 1800.0,
    },
    Signal {
        name: "viability",
        column: "viability_pct",
        to_si: 0.01,
        offset: 0.0,
        si_unit: "1",
        description: "viability fraction (cell counter, SD 0.01, result 0.5 h)",
        noise: 0.01,
        relative: false,
        sig: 3,
        delay_s: 1800.0,
    },
    Signal {
        name: "glucose",
        column: "glucose_g_per_l",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "kg/m3",
        description: "glucose (metabolite analyser, CV 3 %, result 1 h)",
        noise: 0.03,
        relative: true,
        sig: 3,
        delay_s: 3600.0,
    },
    Signal {
        name: "lactate",
        column: "lactate_g_per_l",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "kg/m3",
        description: "lactate (metabolite analyser, CV 4 %, result 1 h)",
        noise: 0.04,
        relative: true,
        sig: 3,
        delay_s: 3600.0,
    },
    Signal {
        name: "glutamine",
        column: "glutamine_mm",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "mol/m3",
        description: "glutamine (metabolite analyser, CV 5 %, result 1 h)",
        noise: 0.05,
        relative: true,
        sig: 3,
        delay_s: 3600.0,
    },
    Signal {
        name: "ammonium",
        column: "ammonium_mm",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "mol/m3",
        description: "ammonium (metabolite analyser, CV 5 %, result 1 h)",
        noise: 0.05,
        relative: true,
        sig: 3,
        delay_s: 3600.0,
    },
    Signal {
        name: "osmolality",
        column: "osmolality_mosm_per_kg",
        to_si: 1e-3,
        offset: 0.0,
        si_unit: "mol/kg",
        description: "osmolality (freezing-point osmometer, CV 1 %, result 2 h)",
        noise: 0.01,
        relative: true,
        sig: 4,
        delay_s: 7200.0,
    },
    Signal {
        name: "titer",
        column: "titer_g_per_l",
        to_si: 1.0,
        offset: 0.0,
        si_unit: "kg/m3",
        description: "product titer (Protein A HPLC, CV 3 %, result 18 h after sampling)",
        noise: 0.03,
        relative: true,
        sig: 3,
        delay_s: 18.0 * 3600.0,
    },
];

/// End-of-batch CQAs: (manifest name, quality name, SI factor, SI unit,
/// description, assay noise, relative?).
const CQAS: [(&str, &str, f64, &str, &str, f64, bool); 8] = [
    (
        "final_titer",
        "titer_g_per_l",
        1.0,
        "kg/m3",
        "harvest titer (Protein A HPLC, CV 3 %)",
        0.03,
        true,
    ),
    (
        "final_viability",
        "viability_pct",
        0.01,
        "1",
        "harvest viability (SD 0.01)",
        0.01,
        false,
    ),
    (
        "galactosylated",
        "galactosylated_pct",
        0.01,
        "1",
        "G1F+G2F fraction of N-glycans (HILIC, SD 0.005)",
        0.005,
        false,
    ),
    (
        "afucosylated",
        "afucosylated_pct",
        0.01,
        "1",
        "afucosylated fraction (HILIC, SD 0.003)",
        0.003,
        false,
    ),
    (
        "high_mannose",
        "high_mannose_pct",
        0.01,
        "1",
        "high-mannose fraction (HILIC, SD 0.003)",
        0.003,
        false,
    ),
    (
        "acidic_variants",
        "acidic_variants_pct",
        0.01,
        "1",
        "acidic charge variants (CEX/icIEF, SD 0.01)",
        0.01,
        false,
    ),
    (
        "hmw",
        "hmw_pct",
        0.01,
        "1",
        "high-molecular-weight species (SEC, SD 0.001)",
        0.001,
        false,
    ),
    (
        "hcp",
        "hcp_mg_per_l",
        1e-3,
        "kg/m3",
        "host-cell protein in harvest (ELISA, CV 15 %)",
        0.15,
        true,
    ),
];

/// Residual host-cell DNA in the harvest, recorded only with
/// [`ChoDoeOptions::record_dna`] (same layout as [`CQAS`]).
const DNA: (&str, &str, f64, &str, &str, f64, bool) = (
    "dna",
    "dna_mg_per_l",
    1e-3,
    "kg/m3",
    "residual host-cell DNA in harvest (qPCR, CV 15 %)",
    0.15,
    true,
);

/// What an assay can report: never below zero, and a fraction (SI unit
/// "1": viability, glycan and variant fractions) never above one — a
/// cell counter does not print 101 % viable, whatever its noise.
fn assay_range(v: f64, si_unit: &str) -> f64 {
    let v = v.max(0.0);
    if si_unit == "1" { v.min(1.0) } else { v }
}

/// The hidden "plant": process noise and effects the nominal model lacks,
/// applied as parameter changes before the nominal model runs. Returns the
/// (address, multiplier or new value) pairs for the record.
fn plant_parameters(
    s: &mut Scenario,
    ff: &[f64],
    user: &[f64; 8],
    rng: &mut SplitMix64,
) -> Result<(), String> {
    let [rpm, do_pct, _ph, _shift_h, t_post, _feed, _glc, _seed] = *user;
    let scale = |s: &mut Scenario, p: &str, m: f64| -> Result<(), String> {
        let a = s.address(&format!("model.{p}"), ff)?;
        let v = s.get(&a);
        s.set(&a, v * m);
        Ok(())
    };
    // Process noise: batch-to-batch variation of kinetics (lognormal).
    let mu_noise = rng.lognormal(0.05);
    let qp_noise = rng.lognormal(0.08);
    let kd_noise = rng.lognormal(0.15);
    let lys_noise = rng.lognormal(0.10);
    let qglc_noise = rng.lognormal(0.05);
    let gal_noise = 1.0 + 0.03 * rng.normal();
    // Mismatch 1: shear/mixing optimum at 240 rpm (growth falls off both sides).
    let shear = 1.0 - 0.35 * ((rpm - 240.0) / 100.0).powi(2);
    // Mismatch 2: oxidative stress lowers specific productivity at high DO.
    let ox = 1.0 - 0.01 * (do_pct - 40.0);
    // Mismatch 3: the productivity gain of the shift peaks at 33 C (the
    // nominal model's gain is linear in the temperature drop).
    let t_peak = (-0.12 * (t_post - 33.0).powi(2)).exp();
    // Mismatch 4: cells die faster at high agitation (bubble/shear damage).
    let shear_death = 1.0 + 3.0 * ((rpm - 260.0) / 100.0).max(0.0);
    scale(s, "mu_max", mu_noise * shear)?;
    scale(s, "beta_lp", qp_noise * ox * t_peak)?;
    scale(s, "k_d", kd_noise * shear_death)?;
    // Since model v2.0.0 most death is ammonium-induced; the batch-to-batch
    // and shear effects act on it as on the basal rate.
    scale(s, "k_d_amm", kd_noise * shear_death)?;
    scale(s, "k_lys", lys_noise)?;
    scale(s, "m_glc", qglc_noise)?;
    // Mismatch 5: galactosylation falls with DO (not in the nominal model).
    scale(s, "gal_ref", gal_noise * (1.0 - 0.008 * (do_pct - 40.0)))?;
    // Mismatch 6: constant plant biases: faster deamidation, more HCP per
    // lysed cell than the nominal model assumes.
    scale(s, "k_deam", 1.15)?;
    scale(s, "hcp_lys", 1.3)?;
    Ok(())
}

/// One generated batch with its design in user units.
pub struct Generated {
    /// One record per batch: interior ones first, then the edge ones.
    pub records: Vec<BatchRecord>,
    /// The tag map of the generated files ([`tag_map`], plus the `dna`
    /// variable with `record_dna`).
    pub tag_map: TagMap,
    /// Coded design points (0..1 inside, beyond at the edge points).
    pub coded: Vec<[f64; 8]>,
    /// Factor values in user units.
    pub user: Vec<[f64; 8]>,
    /// What the structural plant hid in each batch (empty for the
    /// platform plant).
    pub hidden: Vec<structural::HiddenBatch>,
}

/// Runs the DoE through the plant and the instruments.
pub fn generate_cho(opts: &ChoDoeOptions) -> Result<Generated, Error> {
    let def = load_process(&opts.process)?;
    let ff = def.model.params.file_factor.clone();
    let mut rng = SplitMix64::new(opts.seed);
    let coded = design(opts.n_interior, opts.n_edge, &mut rng);
    let n = coded.len();
    let mut records = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut hidden = Vec::new();
    let start0 = 1_735_689_600.0; // 2025-01-01T00:00:00Z
    let bad = |what: String| {
        Error::input(
            &opts.process,
            "datagen",
            "a process the CHO generator can drive",
            what,
        )
    };
    for (i, c) in coded.iter().enumerate() {
        let mut user = [0.0; 8];
        for (j, f) in FACTORS.iter().enumerate() {
            user[j] = f.low + c[j] * (f.high - f.low);
        }
        // Every batch draws from its own stream: adding batches leaves the
        // earlier ones unchanged.
        let mut brng =
            SplitMix64::new(opts.seed ^ (0xA5A5_0000 + i as u64).wrapping_mul(0x9E37_79B9));
        let mut s = Scenario::from_definition(&def)?;
        s.options.output_interval_s = Some(opts.online_interval_s);
        let [rpm, do_pct, ph, shift_h, t_post, feed, glc, seed] = user;
        // Actual seeding differs from the target (count error, 6 % CV).
        let seeded = seed * brng.lognormal(0.06);
        // Feed-medium lot variation of glucose (2 % CV).
        let glc_lot = glc * (1.0 + 0.02 * brng.normal());
        for (a, v) in [
            ("setpoints.agitation_rpm", rpm),
            ("setpoints.do_pct", do_pct),
            ("setpoints.ph", ph),
            ("shifts[0].time_h", shift_h),
            ("feeds.scale", feed),
            ("media.feed_a.glucose_g_per_l", glc_lot),
            ("initial.xv_1e6_cells_per_ml", seeded),
        ] {
            s.apply(a, v, &ff).map_err(|e| bad(format!("`{a}`: {e}")))?;
        }
        for e in s.recipe.events.iter_mut() {
            if let EventKind::Shift(sp) = &mut e.kind
                && sp.temperature_k.is_some()
            {
                sp.temperature_k = Some(t_post + 273.15);
            }
        }
        plant_parameters(&mut s, &ff, &user, &mut brng).map_err(bad)?;
        for (name, m) in &opts.deviations {
            let a = s
                .address(&format!("model.{name}"), &ff)
                .map_err(|e| bad(format!("deviation `{name}`: {e}")))?;
            let v = s.get(&a);
            s.set(&a, v * m);
        }
        let out = match &opts.plant {
            Plant::Platform => s.simulate(true)?,
            Plant::Structural(plant) => {
                let (out, h) =
                    structural::simulate_structural(&s, plant, plant.threshold(opts.seed, i))?;
                hidden.push(h);
                out
            }
        };
        let time_s: Vec<f64> = out
            .column("time_h")
            .ok_or_else(|| bad("no time_h column".into()))?
            .iter()
            .map(|h| (h * 3600.0).round())
            .collect();
        let duration_s = *time_s.last().unwrap_or(&0.0);
        let series = |col: &str| -> Result<TimeSeries, Error> {
            let v = out
                .column(col)
                .ok_or_else(|| bad(format!("no `{col}` column")))?;
            Ok(TimeSeries {
                time_s: time_s.clone(),
                value: v,
            })
        };
        let mut online = BTreeMap::new();
        for sig in &ONLINE {
            let ts = series(sig.column)?;
            let mut o = TimeSeries::default();
            for (t, v) in ts.time_s.iter().zip(&ts.value) {
                // About 1 % of online samples are lost (historian gaps).
                if brng.uniform() < 0.01 && *t > 0.0 && *t < duration_s {
                    continue;
                }
                let si = v * sig.to_si + sig.offset;
                let noisy = if sig.relative {
                    si * (1.0 + sig.noise * brng.normal())
                } else {
                    si + sig.noise * brng.normal()
                };
                o.time_s.push(*t);
                o.value.push(round_sig(noisy, sig.sig));
            }
            online.insert(sig.name.to_string(), o);
        }
        // Daily samples at 0, 24, ..., 312 h, drawn within +-30 min of the
        // hour (whole minutes).
        let mut offline = BTreeMap::new();
        let sample_times: Vec<f64> = (0..=13)
            .map(|d| {
                let jitter = if d == 0 {
                    0.0
                } else {
                    (brng.below(61) as f64 - 30.0) * 60.0
                };
                d as f64 * 86400.0 + jitter
            })
            .collect();
        for sig in &OFFLINE {
            let ts = series(sig.column)?;
            let mut labs = Vec::new();
            for &t in &sample_times {
                let Some(v) = ts.at(t) else { continue };
                let si = v * sig.to_si + sig.offset;
                let noisy = if sig.relative {
                    si * (1.0 + sig.noise * brng.normal())
                } else {
                    si + sig.noise * brng.normal()
                };
                labs.push(LabSample {
                    sample_time_s: t,
                    result_time_s: Some(t + sig.delay_s),
                    value: round_sig(assay_range(noisy, sig.si_unit), sig.sig),
                });
            }
            offline.insert(sig.name.to_string(), labs);
        }
        let mut cqas = BTreeMap::new();
        for (name, q, f, unit, _, noise, rel) in CQAS {
            let v = out
                .quality_value(q)
                .ok_or_else(|| bad(format!("no quality `{q}`")))?
                * f;
            let noisy = if rel {
                v * (1.0 + noise * brng.normal())
            } else {
                v + noise * brng.normal()
            };
            cqas.insert(name.to_string(), round_sig(assay_range(noisy, unit), 4));
        }
        let mut parameters = BTreeMap::new();
        for (j, f) in FACTORS.iter().enumerate() {
            parameters.insert(
                f.parameter.to_string(),
                round_sig(user[j] * f.factor + f.offset, 6),
            );
        }
        let edge = i >= opts.n_interior;
        let start = start0 + i as f64 * 16.0 * 86400.0;
        let mut lots = BTreeMap::new();
        lots.insert(
            "feed_a".to_string(),
            format!("FA-{:04}", 1000 + brng.below(9000)),
        );
        lots.insert(
            "basal_medium".to_string(),
            format!("BM-{:04}", 1000 + brng.below(9000)),
        );
        if opts.record_dna {
            let v = out
                .quality_value(DNA.1)
                .ok_or_else(|| bad(format!("no quality `{}`", DNA.1)))?
                * DNA.2;
            let noisy = v * (1.0 + DNA.5 * brng.normal());
            cqas.insert(DNA.0.to_string(), round_sig(assay_range(noisy, DNA.3), 4));
        }
        records.push(BatchRecord {
            meta: BatchMeta {
                id: format!("B{:02}", i + 1),
                equipment: "bench-3l-glass (simulated plant)".into(),
                working_volume_m3: Some(s.recipe.initial_volume_m3),
                recipe: if edge {
                    "cho-platform-14d, DoE edge point".into()
                } else {
                    "cho-platform-14d, DoE interior point".into()
                },
                material_lots: lots,
                start_unix_s: start,
                end_unix_s: start + duration_s,
                parameters,
                cqas,
                files: vec![],
            },
            online,
            offline,
        });
        users.push(user);
    }
    let mut tags = tag_map();
    if opts.record_dna {
        tags.variables.insert(
            DNA.0.to_string(),
            Variable {
                name: DNA.0.to_string(),
                si_unit: DNA.3.to_string(),
                description: DNA.4.to_string(),
            },
        );
    }
    Ok(Generated {
        records,
        tag_map: tags,
        coded,
        user: users,
        hidden,
    })
}

/// The tag map of the generated data (one tag per variable, SI).
pub fn tag_map() -> TagMap {
    let mut variables = BTreeMap::new();
    let mut add = |name: &str, si_unit: &str, description: &str| {
        variables.insert(
            name.to_string(),
            Variable {
                name: name.to_string(),
                si_unit: si_unit.to_string(),
                description: description.to_string(),
            },
        );
    };
    for s in ONLINE.iter().chain(OFFLINE.iter()) {
        add(s.name, s.si_unit, s.description);
    }
    for (name, _, _, unit, d, _, _) in CQAS {
        add(name, unit, d);
    }
    for f in &FACTORS {
        add(f.parameter, f.si_unit, f.description);
    }
    TagMap {
        variables,
        tags: BTreeMap::new(),
    }
}

/// Generates and writes the dataset (gzip) plus `design.csv`, the DoE in
/// user units with coded values and the edge flag.
pub fn write_cho_dataset(dir: &Path, opts: &ChoDoeOptions) -> Result<(), Error> {
    let g = generate_cho(opts)?;
    let (name, plant_text) = match opts.plant {
        Plant::Platform => ("cho-platform", ""),
        Plant::Structural(_) => (
            "cho-structural",
            ", and two mechanisms the platform model lacks (a lactate shift at a hidden per-batch cumulative glucose uptake per cell; death k_d (1 + (ammonium/5 mM)^2))",
        ),
    };
    let description = format!(
        "{} simulated 14-day CHO IgG1 fed-batch batches on a 3 L bench vessel: Latin-hypercube DoE over 8 process conditions ({} interior, {} edge points), process noise, plant-model mismatch{plant_text} and assay noise; generator seed {} (see README.md)",
        g.records.len(),
        opts.n_interior,
        opts.n_edge,
        opts.seed
    );
    write_dataset(dir, name, &description, &g.tag_map, &g.records, true)?;
    if !g.hidden.is_empty() {
        let mut csv = String::from("batch,shift_threshold_pmol_per_cell,shift_time_h\n");
        for (r, h) in g.records.iter().zip(&g.hidden) {
            csv.push_str(&format!(
                "{},{},{}\n",
                r.id(),
                round_sig(h.threshold_mol_per_cell * 1e12, 4),
                h.shift_time_h
                    .map_or("never".to_string(), |t| t.to_string())
            ));
        }
        biotwin_core::output::atomic::write_atomic(&dir.join("plant.csv"), csv.as_bytes())?;
    }
    let mut csv = String::from("batch,edge");
    for f in &FACTORS {
        csv.push_str(&format!(",{} [{}]", f.parameter, f.user_unit));
    }
    for f in &FACTORS {
        csv.push_str(&format!(",{}_coded", f.parameter));
    }
    csv.push('\n');
    for (i, (u, c)) in g.user.iter().zip(&g.coded).enumerate() {
        csv.push_str(&format!("{},{}", g.records[i].id(), i >= opts.n_interior));
        for v in u {
            csv.push_str(&format!(",{}", round_sig(*v, 5)));
        }
        for v in c {
            csv.push_str(&format!(",{}", round_sig(*v, 4)));
        }
        csv.push('\n');
    }
    Ok(biotwin_core::output::atomic::write_atomic(
        &dir.join("design.csv"),
        csv.as_bytes(),
    )?)
}
