//! A linear-trend predictor for throughput benchmarks of the engine and its
//! stores (`examples/live_throughput.rs`, `crates/live/examples/fleet_throughput.rs`):
//! it costs almost nothing, so a benchmark measures reading, mapping,
//! recording and forecasting bookkeeping rather than a process model. Not a
//! model of any process; never served by a site file.
//!
//! Each batch's one variable y is regressed on time t (hours) by running
//! sums; the forecast is the line at the batch's planned end, with the
//! ordinary-least-squares prediction interval's standard deviation
//! s √(1 + 1/n + (t_end − t̄)²/Sxx), summarised by 200 normal draws from the
//! project's random stream (`biotwin_core::random`).

use crate::Error;
use biotwin_core::random::SplitMix64;

use crate::config::BatchConfig;
use crate::engine::PredictorFactory;
use crate::{CqaForecast, Forecast, Observation, Predictor};

/// Running linear regression of one variable on time, extrapolated to the
/// batch's planned end (module docs).
#[derive(Debug, Clone, Default)]
pub struct Trend {
    end_s: f64,
    n: f64,
    st: f64,
    sy: f64,
    stt: f64,
    sty: f64,
    syy: f64,
}

impl Predictor for Trend {
    fn model_id(&self) -> String {
        "rls-trend@1".into()
    }
    fn assimilate(&mut self, o: &Observation) -> Result<bool, Error> {
        let (t, y) = (o.time_s / 3600.0, o.value_si);
        self.n += 1.0;
        self.st += t;
        self.sy += y;
        self.stt += t * t;
        self.sty += t * y;
        self.syy += y * y;
        Ok(true)
    }
    fn forecast(&mut self, seed: u64) -> Result<Forecast, Error> {
        let n = self.n.max(1.0);
        let sxx = (self.stt - self.st * self.st / n).max(1e-12);
        let slope = (self.sty - self.st * self.sy / n) / sxx;
        let te = self.end_s / 3600.0;
        let mean = self.sy / n + slope * (te - self.st / n);
        let var = ((self.syy - self.sy * self.sy / n) - slope * slope * sxx).max(0.0)
            / (n - 2.0).max(1.0);
        let sd = var.sqrt() * (1.0 + 1.0 / n + (te - self.st / n).powi(2) / sxx).sqrt();
        let mut rng = SplitMix64::new(seed);
        let mut draws: Vec<f64> = (0..200).map(|_| mean + sd * rng.normal()).collect();
        draws.sort_by(f64::total_cmp);
        Ok(Forecast {
            time_s: self.st / n,
            cqas: vec![CqaForecast {
                name: "x_end".into(),
                mean,
                p05: draws[10],
                p95: draws[189],
                lower_spec: Some(f64::MIN),
                upper_spec: None,
                p_in_spec: Some(1.0),
            }],
            state: vec![],
        })
    }
}

/// Makes a [`Trend`] for every batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrendFactory;

impl PredictorFactory for TrendFactory {
    fn create(&self, b: &BatchConfig) -> Result<Box<dyn Predictor>, Error> {
        Ok(Box::new(Trend {
            end_s: b.planned_end_unix_s - b.start_unix_s,
            ..Trend::default()
        }))
    }
}
