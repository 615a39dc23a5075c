//! [`MechanisticPredictor`]: the live [`Predictor`] built on a bioreactor
//! model of the process (`xing2010`, `cho_platform`): an extended Kalman
//! filter on the model states and slowly adapted parameters
//! ([`filter`]), a measurement model from dataset variables to model outputs
//! ([`observe`]), and an ensemble forecast of the end-of-batch CQAs with
//! P(in spec) ([`ensemble`]). Equations, noise values and measured latency
//! are in `docs/live.md`, section "State estimation and forecast".

pub mod coverage;
pub mod discrepancy;
pub mod ensemble;
pub mod filter;
pub mod kalman;
pub mod observe;
pub mod plan;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use nalgebra::{DMatrix, DVector};

use crate::Error;
use crate::{Forecast, Observation, Predictor};
use biotwin_core::bioreactor::Culture;
use biotwin_core::bioreactor::platform::{ChoPlatform, PlatformParams};
use biotwin_core::bioreactor::xing2010::{Xing2010, Xing2010Params};
use biotwin_core::definition::calibration::Transform;
use biotwin_core::definition::process::ProcessDefinition;
use biotwin_core::definition::uncertainty::DistributionKind;
use biotwin_core::error::Diagnostic;
use biotwin_core::simulation::model_source::{ModelProvenance, provenance_of};
use biotwin_core::simulation::{Family, Scenario, load_process};
use biotwin_core::solver::Tolerances;
use ensemble::{Forecaster, JointSpread, Spread};
use filter::{Diffusion, Filter, FilterStats, FilterTuning};
pub use observe::Noise;
use plan::{Builder, Plan};

/// Tuning of the filter and the forecast. Defaults are documented in
/// `docs/live.md` with where each value comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct MechanisticOptions {
    /// Model error as state diffusion: relative SD per √h of every state.
    pub process_noise_rel_per_sqrt_h: f64,
    /// Measurement error per dataset variable, replacing the defaults.
    pub measurement_noise: BTreeMap<String, Noise>,
    /// Parameters adapted online (family parameter names); `None`: the
    /// family's default (growth rate and specific productivity).
    pub adapt: Option<Vec<String>>,
    /// Random walk of adapted parameters, relative SD per √h.
    pub param_walk_rel_per_sqrt_h: f64,
    /// Carry every model parameter the process file gives an
    /// `[[uncertainty]]` for in the filter state (as a constant with that
    /// prior), besides the adapted ones.
    pub carry_uncertain_parameters: bool,
    /// Prior relative SD of an adapted parameter the process file gives no
    /// `[[uncertainty]]` for.
    pub param_prior_cv: f64,
    /// Relative SD of the recipe's initial state.
    pub initial_rel_sd: f64,
    /// Number of ensemble members of the end-of-batch forecast.
    pub ensemble_size: usize,
    /// Innovation gate in standard deviations (squared Mahalanobis distance
    /// above `gate_sigma²` is rejected).
    pub gate_sigma: f64,
    /// Relative tolerance of the filter's integrations (and its Jacobians).
    pub filter_rtol: f64,
    /// Relative tolerance of the ensemble members' integrations.
    pub forecast_rtol: f64,
    /// How far back a late lab result is still used at its sample time.
    pub oos_window_h: f64,
    /// Spacing of the filter checkpoints kept for late results.
    pub checkpoint_every_h: f64,
    /// Add the process's model discrepancy to the forecast
    /// (`process-models/discrepancy/<process file name>`, when there is
    /// one; [`discrepancy`]).
    pub model_discrepancy: bool,
}

impl Default for MechanisticOptions {
    fn default() -> Self {
        MechanisticOptions {
            process_noise_rel_per_sqrt_h: 0.005,
            measurement_noise: BTreeMap::new(),
            adapt: None,
            // Parameters are constants of a batch: no random walk (it grew
            // the forecast band with time, issue 16).
            param_walk_rel_per_sqrt_h: 0.0,
            carry_uncertain_parameters: true,
            param_prior_cv: 0.10,
            initial_rel_sd: 0.10,
            ensemble_size: 200,
            gate_sigma: 4.0,
            filter_rtol: 1e-7,
            forecast_rtol: 1e-3,
            oos_window_h: 48.0,
            // 48 checkpoints: ~470 kB per platform batch (35×35 covariance),
            // so 1,000 concurrent batches stay well under a GB.
            checkpoint_every_h: 1.0,
            model_discrepancy: true,
        }
    }
}

/// One running batch's estimator, for either model family.
enum Inner {
    Xing(
        Box<(
            Filter<{ biotwin_core::bioreactor::xing2010::N }, Xing2010>,
            Forecaster,
        )>,
    ),
    Platform(
        Box<(
            Filter<{ biotwin_core::bioreactor::platform::N }, ChoPlatform>,
            Forecaster,
        )>,
    ),
}

macro_rules! with_inner {
    ($s:expr, $b:ident => $e:expr) => {
        match &mut $s.inner {
            Inner::Xing($b) => $e,
            Inner::Platform($b) => $e,
        }
    };
}

/// The live [`Predictor`] on a bioreactor model of the process: the
/// extended Kalman filter assimilates observations, an ensemble forecasts
/// the end-of-batch CQAs with P(in spec) (module docs). Built from a
/// process file ([`MechanisticPredictor::from_process_file`]).
pub struct MechanisticPredictor {
    model_id: String,
    /// `model_id` before and after the model-reference segment
    /// (`/registry:<id>`, or `/file:<path>` by [`Self::with_model_file`]).
    model_id_around: (String, String),
    provenance: ModelProvenance,
    /// The text of the loose model file the batch names
    /// ([`Self::with_model_file`]), stored at the batch's start.
    model_file_text: Option<String>,
    inner: Inner,
}

/// sha256 over every input file of the process (role, path and content
/// hash, in order) and the discrepancy table's bytes when one is used.
fn inputs_sha256(def: &ProcessDefinition, discrepancy: Option<&Path>) -> Result<String, Error> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for i in &def.inputs {
        h.update(i.role.as_bytes());
        h.update([0]);
        h.update(i.sha256.as_bytes());
        h.update([0]);
    }
    if let Some(p) = discrepancy {
        let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
        h.update(b"discrepancy\0");
        h.update(&bytes);
    }
    Ok(hex::encode(h.finalize()))
}

fn input_error(
    file: &Path,
    field: &str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Error {
    Error::from(Diagnostic::new(file, field, expected, found))
}

impl MechanisticPredictor {
    /// From a process file (as `biotwin simulate` loads it: model, recipe,
    /// equipment, specifications, `[[uncertainty]]`).
    pub fn from_process_file(path: &Path, opts: MechanisticOptions) -> Result<Self, Error> {
        let def = load_process(path).map_err(Error::from)?;
        Self::from_process(&def, opts)
    }

    /// From an already loaded and validated process definition.
    pub fn from_process(def: &ProcessDefinition, opts: MechanisticOptions) -> Result<Self, Error> {
        let sc = Scenario::from_definition(def).map_err(Error::from)?;
        Self::from_scenario(def, &sc, opts)
    }

    /// From a process definition and the scenario of one batch made from
    /// it (the process with the batch's planned set-points, feeds and
    /// shift applied, e.g. by a dataset's `mechanistic.toml`). Priors,
    /// specifications and the model id come from `def`.
    pub fn from_scenario(
        def: &ProcessDefinition,
        sc: &Scenario,
        opts: MechanisticOptions,
    ) -> Result<Self, Error> {
        let sc = sc.clone();
        let v0 = sc.recipe.initial_volume_m3;
        // Every prediction records the model: id, version and the sha256 of
        // its text (and the registry id, for a registry model).
        let provenance = provenance_of(def);
        let registry = provenance
            .source
            .strip_prefix("registry:")
            .and_then(|s| s.rsplit_once('/'))
            .map_or(String::new(), |(_, id)| format!("/registry:{id}"));
        // The forecast also depends on the process file (its priors), the
        // recipe and equipment files, and the model-discrepancy table when
        // one is used: their hashes go into the id too, so a changed prior
        // or table (or a table that went missing) gives another id.
        let discrepancy_file =
            discrepancy::path_for(&def.path).filter(|p| opts.model_discrepancy && p.is_file());
        let model_id_around = (
            format!(
                "mechanistic-ekf/{}/{}@{}",
                def.id, def.model.id, def.model.version
            ),
            format!(
                "/inputs-sha256:{}/sha256:{}",
                inputs_sha256(def, discrepancy_file.as_deref())?,
                provenance.sha256,
            ),
        );
        let model_id = format!("{}{registry}{}", model_id_around.0, model_id_around.1);
        let inner = match sc.family {
            Family::Xing2010 => {
                let build: Builder<Xing2010> = Arc::new(move |p: &[f64]| {
                    Xing2010::new(Xing2010Params::from_si(p)).with_volume_scale(v0)
                });
                Inner::Xing(Box::new(assemble(
                    def,
                    &sc,
                    build,
                    &["mu_max", "q_mab"],
                    None,
                    &opts,
                )?))
            }
            Family::ChoPlatform => {
                let vessel = sc.vessel.clone().ok_or_else(|| {
                    input_error(
                        &def.path,
                        "process.equipment",
                        "an equipment reference",
                        "none",
                    )
                })?;
                let build: Builder<ChoPlatform> = Arc::new(move |p: &[f64]| {
                    ChoPlatform::new(PlatformParams::from_si(p), vessel.clone(), v0)
                });
                Inner::Platform(Box::new(assemble(
                    def,
                    &sc,
                    build,
                    &["mu_max", "beta_lp"],
                    Some(platform_product_shares()),
                    &opts,
                )?))
            }
        };
        Ok(MechanisticPredictor {
            model_id,
            model_id_around,
            provenance,
            model_file_text: None,
            inner,
        })
    }

    /// The model was read from a model file the batch names (`biotwin live
    /// --model FILE`, a site file's `model = "PATH"`) rather than the one
    /// its process file names; `text` is that file's text (its sha256 is the
    /// provenance's), which the engine stores at the batch's start so that a
    /// restart does not depend on the file. Every prediction's model id
    /// carries `/file:<path>/sealed:false` (the path it was read from, as
    /// recorded at the batch's start; a loose file carries no registry
    /// seal), as a registry model's carries `/registry:<id>`.
    pub fn with_model_file(mut self, text: String) -> Self {
        self.model_id = format!(
            "{}/file:{}/sealed:false{}",
            self.model_id_around.0, self.provenance.source, self.model_id_around.1
        );
        self.model_file_text = Some(text);
        self
    }

    /// Counters: assimilated, rejected by the gate, out of sequence, too late.
    pub fn stats(&mut self) -> FilterStats {
        with_inner!(self, b => b.0.stats)
    }

    /// Current estimate of the adapted parameters: (name, SI value, SD).
    pub fn adapted_parameters(&mut self) -> Vec<(String, f64, f64)> {
        with_inner!(self, b => {
            let f = &b.0;
            let n = f.x.len() - f.adapt.len();
            let names = match self_family_params(n) { Some(p) => p, None => &[] };
            f.adapt
                .iter()
                .enumerate()
                .map(|(k, &j)| {
                    let name = names.get(j).map_or("?", |s| s.name).to_string();
                    (name, f.x[n + k], f.p[(n + k, n + k)].max(0.0).sqrt())
                })
                .collect()
        })
    }

    /// Current mean and SD of the model states (SI, the family's state order).
    pub fn state_estimate(&mut self) -> Vec<(f64, f64)> {
        with_inner!(self, b => {
            let f = &b.0;
            let n = f.x.len() - f.adapt.len();
            (0..n).map(|i| (f.x[i], f.p[(i, i)].max(0.0).sqrt())).collect()
        })
    }

    /// Replaces the specification limits of the process file (a site may
    /// release against its own limits).
    pub fn set_specification_limits(
        &mut self,
        limits: Vec<biotwin_core::definition::specs::Limit>,
    ) {
        with_inner!(self, b => b.1.limits = limits)
    }

    /// Also report these quantiles of every CQA in the forecast's state
    /// (`NAME@qLEVEL`; calibration studies, [`coverage`]).
    pub fn set_quantile_levels(&mut self, levels: Vec<f64>) {
        with_inner!(self, b => b.1.quantile_levels = levels)
    }

    /// The batch's conditions (dataset manifest parameters, SI), which
    /// place it relative to the design the model discrepancy was estimated
    /// on; without them a batch counts as an average calibration batch.
    pub fn set_conditions(&mut self, conditions: &BTreeMap<String, f64>) {
        with_inner!(self, b => if let Some(d) = b.1.discrepancy.as_mut() {
            d.q = d.table.q_of(conditions);
        })
    }

    /// The model discrepancy in use and the batch's q, if any.
    pub fn discrepancy(&mut self) -> Option<discrepancy::BatchDiscrepancy> {
        with_inner!(self, b => b.1.discrepancy.clone())
    }

    /// Batch time of the estimate, s.
    pub fn time_s(&mut self) -> f64 {
        with_inner!(self, b => b.0.t)
    }

    /// Dataset variables this predictor can use.
    pub fn variables(&mut self) -> Vec<&'static str> {
        with_inner!(self, b => b.0.obs.iter().map(|o| o.variable).collect())
    }
}

/// The platform model's states that are shares of the product `P`: masses
/// of galactosylated, afucosylated, high-mannose, acidic and HMW product.
fn platform_product_shares() -> (usize, Vec<usize>) {
    use biotwin_core::bioreactor::platform as pf;
    (
        pf::P,
        vec![pf::P_GAL, pf::P_AFUC, pf::P_MAN5, pf::P_ACID, pf::P_HMW],
    )
}

/// States that some observable's output depends on (forward differences
/// at `y`): the states a measurement informs.
fn observed_states<const N: usize, M: Culture<N>>(
    model: &M,
    y: &nalgebra::SVector<f64, N>,
    floors: &nalgebra::SVector<f64, N>,
    obs: &[observe::Observable],
) -> Vec<bool> {
    let mut row = Vec::new();
    let mut base = Vec::new();
    let mut m = model.clone();
    m.begin_segment(y);
    m.outputs(0.0, y, &mut base);
    (0..N)
        .map(|j| {
            let d = 1e-6 * y[j].abs().max(floors[j]);
            let mut yp = *y;
            yp[j] += d;
            m.outputs(0.0, &yp, &mut row);
            obs.iter().any(|o| {
                let (a, b) = (row[o.column], base[o.column]);
                a.is_finite() && b.is_finite() && a != b
            })
        })
        .collect()
}

fn self_family_params(
    n_states: usize,
) -> Option<&'static [biotwin_core::definition::kinetic::ParamSpec]> {
    match n_states {
        biotwin_core::bioreactor::xing2010::N => Some(biotwin_core::bioreactor::xing2010::PARAMS),
        biotwin_core::bioreactor::platform::N => Some(biotwin_core::bioreactor::platform::PARAMS),
        _ => None,
    }
}

/// Builds the filter and the forecaster for one family.
fn assemble<const N: usize, M: Culture<N>>(
    def: &ProcessDefinition,
    sc: &Scenario,
    build: Builder<M>,
    default_adapt: &[&str],
    shares: Option<(usize, Vec<usize>)>,
    opts: &MechanisticOptions,
) -> Result<(Filter<N, M>, Forecaster), Error> {
    let opt_file = Path::new("<mechanistic options>");
    let specs = sc.family.params();
    let params = sc.params_si.clone();
    let names: Vec<String> = match &opts.adapt {
        Some(a) => a.clone(),
        None => default_adapt.iter().map(|s| s.to_string()).collect(),
    };
    let mut adapt = Vec::new();
    for n in &names {
        let j = specs.iter().position(|s| s.name == n).ok_or_else(|| {
            input_error(
                opt_file,
                "adapt",
                format!("parameters of family `{}`", sc.family.name()),
                format!("`{n}`"),
            )
        })?;
        if params[j] <= 0.0 {
            return Err(input_error(
                &def.path,
                &format!("model.{n}"),
                "a positive value for an adapted parameter",
                format!("{}", params[j]),
            ));
        }
        adapt.push(j);
    }
    // Relative spread of a model parameter from the process's [[uncertainty]].
    let spread = |j: usize| -> Option<Spread> {
        let u = def
            .uncertainty
            .iter()
            .find(|u| u.parameter == format!("model.{}", specs[j].name))?;
        let base = params[j];
        let ff = def.model.params.file_factor.get(j).copied().unwrap_or(1.0);
        match (u.distribution, u.cv_pct, u.sd) {
            (DistributionKind::Lognormal, Some(cv), _) => Some(Spread::Lognormal {
                sigma: (1.0 + (cv / 100.0).powi(2)).ln().sqrt(),
            }),
            (DistributionKind::Normal, Some(cv), _) => Some(Spread::Normal {
                sd: cv / 100.0 * base,
            }),
            (DistributionKind::Normal, None, Some(sd)) => Some(Spread::Normal { sd: sd * ff }),
            _ => None,
        }
    };
    // Every other parameter with a prior spread in the process file is
    // carried in the filter state too (no random walk): the states it acts
    // on (a glycoform's accumulated mass, HCP) then carry its uncertainty
    // through F, a measurement that informs it (viability: the death
    // rates) narrows it, and one no measurement reaches keeps its prior
    // spread to the batch end. Drawn in the forecast from the filter's
    // covariance. (A calibrated model's fitted parameters are drawn jointly
    // from the fit's covariance instead.)
    let fitted_idx: Vec<usize> = def
        .model
        .calibration
        .as_ref()
        .and_then(|c| c.covariance.as_ref())
        .map(|c| c.indices.clone())
        .unwrap_or_default();
    if opts.carry_uncertain_parameters {
        for j in 0..specs.len() {
            // Any sign: logit slopes of the glycan responses are often
            // negative. What is carried needs a non-zero prior SD.
            let sd = match spread(j) {
                Some(Spread::Lognormal { sigma }) if params[j] > 0.0 => sigma * params[j],
                Some(Spread::Normal { sd }) => sd.abs(),
                _ => 0.0,
            };
            if !adapt.contains(&j) && !fitted_idx.contains(&j) && sd > 0.0 && sd.is_finite() {
                adapt.push(j);
            }
        }
    }
    let plan = Plan::new(sc.recipe.clone(), build, &params, sc.options.method)
        .map_err(|e| input_error(&def.path, "process.recipe", e.to_string(), "more"))?;
    let y0 = plan
        .initial_state(&params)
        .map_err(|e| input_error(&def.path, "process.recipe.initial", e.to_string(), "none"))?;
    let probe = plan.model(&params, &plan.start(), 0.0)?;
    let floors = probe.scales() * 1e-3;
    let columns = probe.output_columns();
    let mut obs = observe::observables(&columns);
    for (var, noise) in &opts.measurement_noise {
        match obs.iter_mut().find(|o| o.variable == var) {
            Some(o) => o.noise = *noise,
            None => {
                return Err(input_error(
                    opt_file,
                    &format!("measurement_noise.{var}"),
                    format!(
                        "a variable the model observes ({})",
                        obs.iter()
                            .map(|o| o.variable)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("`{var}`"),
                ));
            }
        }
    }
    let d = N + adapt.len();
    let mut x0 = DVector::zeros(d);
    let mut p0 = DMatrix::zeros(d, d);
    for i in 0..N {
        x0[i] = y0[i];
        let s = opts.initial_rel_sd * y0[i].abs().max(floors[i]);
        p0[(i, i)] = s * s;
    }
    for (k, &j) in adapt.iter().enumerate() {
        x0[N + k] = params[j];
        // (A fitted parameter's prior is set from the covariance below.)
        let sd = match spread(j) {
            Some(Spread::Lognormal { sigma }) => sigma * params[j],
            Some(Spread::Normal { sd }) => sd,
            None => opts.param_prior_cv * params[j].abs(),
        };
        p0[(N + k, N + k)] = sd * sd;
    }
    // A calibrated model's covariance: the prior of the adapted parameters
    // (delta method from ln space: Cov(θa, θb) ≈ θa θb Σab), and the
    // non-adapted fitted parameters drawn jointly by the forecast. It
    // supersedes the process file's [[uncertainty]] on those parameters.
    let cov = def
        .model
        .calibration
        .as_ref()
        .and_then(|c| c.covariance.as_ref());
    let fitted: Vec<usize> = cov.map(|c| c.indices.clone()).unwrap_or_default();
    let mut joint = None;
    if let Some(c) = cov {
        let n = c.names.len();
        // SD in SI per unit SD in the covariance's space, near the value.
        let si_scale = |k: usize| -> f64 {
            match c.transforms[k] {
                Transform::Ln => params[c.indices[k]],
                Transform::Identity => def.model.params.file_factor[c.indices[k]],
            }
        };
        // Adapted pairs: the prior covariance in SI.
        for (ka, &ja) in adapt.iter().enumerate() {
            let Some(a) = c.indices.iter().position(|&i| i == ja) else {
                continue;
            };
            for (kb, &jb) in adapt.iter().enumerate() {
                let Some(b) = c.indices.iter().position(|&i| i == jb) else {
                    continue;
                };
                p0[(N + ka, N + kb)] = c.matrix[a * n + b] * si_scale(a) * si_scale(b);
            }
        }
        // The others: the block of the non-adapted fitted parameters.
        let rest: Vec<usize> = (0..n)
            .filter(|&k| !adapt.contains(&c.indices[k]) && c.matrix[k * n + k] > 0.0)
            .collect();
        if !rest.is_empty() {
            let m = rest.len();
            let mut block = vec![0.0; m * m];
            for (a, &i) in rest.iter().enumerate() {
                for (b, &j) in rest.iter().enumerate() {
                    let scale = |k: usize| match c.transforms[k] {
                        Transform::Ln => 1.0,
                        Transform::Identity => def.model.params.file_factor[c.indices[k]],
                    };
                    block[a * m + b] = c.matrix[i * n + j] * scale(i) * scale(j);
                }
            }
            let jitter = 1e-12 * (0..m).map(|k| block[k * m + k]).fold(0.0, f64::max);
            for k in 0..m {
                block[k * m + k] += jitter;
            }
            let cholesky =
                biotwin_core::definition::calibration::cholesky(&block, m).ok_or_else(|| {
                    input_error(
                        &def.path,
                        "model.calibration.covariance",
                        "a positive semi-definite covariance of the non-adapted fitted parameters",
                        "its Cholesky factorisation failed",
                    )
                })?;
            joint = Some(JointSpread {
                indices: rest.iter().map(|&k| c.indices[k]).collect(),
                ln: rest
                    .iter()
                    .map(|&k| c.transforms[k] == Transform::Ln)
                    .collect(),
                cholesky,
            });
        }
    }
    let spreads: Vec<(usize, Spread)> = (0..specs.len())
        .filter(|j| !adapt.contains(j) && !fitted.contains(j))
        .filter_map(|j| spread(j).map(|s| (j, s)))
        .collect();
    // A looser tolerance overshoots a depleting substrate by about rtol of
    // its scale: the negativity check allows ten times that.
    let tol = |rtol: f64| Tolerances {
        rtol,
        atol: rtol * 1e-3,
        negative_tolerance: sc.options.tolerances.negative_tolerance.max(10.0 * rtol),
        ..sc.options.tolerances
    };
    let diffusion = Diffusion {
        independent: observed_states(&probe, &y0, &floors, &obs),
        shares,
    };
    let tune = FilterTuning {
        q_rel_per_sqrt_h: opts.process_noise_rel_per_sqrt_h,
        param_walk_rel_per_sqrt_h: opts.param_walk_rel_per_sqrt_h,
        diffusion,
        gate2: opts.gate_sigma * opts.gate_sigma,
        tolerances: tol(opts.filter_rtol),
        oos_window_s: opts.oos_window_h * 3600.0,
        checkpoint_every_s: opts.checkpoint_every_h * 3600.0,
    };
    let filter = Filter::new(plan, obs, params, adapt, x0, p0, tune)?;
    let forecaster = Forecaster {
        size: opts.ensemble_size,
        tolerances: tol(opts.forecast_rtol),
        spreads,
        joint,
        bounds_si: specs
            .iter()
            .map(|p| {
                let f = biotwin_core::units::to_si(1.0, p.unit, p.unit).unwrap_or(1.0);
                (p.min * f, p.max * f)
            })
            .collect(),
        limits: def
            .specifications
            .as_ref()
            .map(|s| s.limits.clone())
            .unwrap_or_default(),
        quantile_levels: Vec::new(),
        max_failed_share: 0.05,
        discrepancy: match discrepancy::path_for(&def.path) {
            Some(p) if opts.model_discrepancy && p.is_file() => {
                let table = discrepancy::Discrepancy::load(&p)?;
                Some(discrepancy::BatchDiscrepancy {
                    q: table.mean_q,
                    table,
                })
            }
            _ => None,
        },
    };
    Ok((filter, forecaster))
}

impl Predictor for MechanisticPredictor {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn model_provenance(&self) -> Option<ModelProvenance> {
        Some(self.provenance.clone())
    }

    fn model_file_text(&self) -> Option<&str> {
        self.model_file_text.as_deref()
    }

    fn recipe(&self) -> Option<&biotwin_core::definition::recipe::Recipe> {
        Some(match &self.inner {
            Inner::Xing(b) => &b.0.plan.recipe,
            Inner::Platform(b) => &b.0.plan.recipe,
        })
    }

    fn assimilate(&mut self, obs: &Observation) -> Result<bool, Error> {
        with_inner!(self, b => {
            let f = &mut b.0;
            match f.obs.iter().position(|o| o.variable == obs.variable) {
                Some(which) => f.assimilate(obs, which),
                None => Ok(false),
            }
        })
    }

    fn forecast(&mut self, seed: u64) -> Result<Forecast, Error> {
        with_inner!(self, b => ensemble::forecast(&b.0, &b.1, seed))
    }
}
