//! Ultrafiltration / diafiltration (UF/DF) to the drug-substance buffer and
//! concentration.
//!
//! Tangential-flow filtration limited by concentration polarisation: the
//! film (gel-polarisation) model gives the permeate flux
//!
//! J = k ln(c_gel / c_b)   (m/s; k mass-transfer coefficient, c_b bulk protein)
//!
//! (Michaels 1968; Zeman & Zydney, *Microfiltration and Ultrafiltration*,
//! 1996, ch. 7; mAb c_gel ~ 200-300 g/L, k ~ 1e-6-1e-5 m/s). With V_p the
//! permeate volume as independent variable and S_i the sieving coefficient
//! of species i (0 fully retained, 1 freely passing):
//!
//! * concentration (UF):  dV/dV_p = -1,
//! * constant-volume diafiltration (DF):  dV/dV_p = 0 (buffer in = permeate out),
//! * both:  dm_i/dV_p = -S_i m_i / V,  dt/dV_p = 1/(A J(c_b)).
//!
//! DF with S = 1 over N diavolumes (V_p = N V) washes a solute as e^{-N}.
//! The sequence is UF1 to the DF concentration, DF for N diavolumes, UF2 to
//! the target; the ODEs are integrated by the project's one Dopri5
//! (`biotwin_core::solver::dopri5`, rtol 1e-10, atol 1e-14). Product
//! lost to hold-up and the final flush is a fixed fraction (yield 95-99 %).
//!
//! Waste is integrated alongside, not taken as input − output: the permeate
//! carries dP_i/dV_p = S_i m_i / V of each species, and its volume is the
//! permeate volume of the three phases; the hold-up loss (1 - Y) of the final
//! retentate is added. The diafiltration buffer (N V_df) is buffer added.

use crate::error::{Error, UfDfFailure};
use biotwin_core::solver::dopri5::{self, Settings, Stop};
use nalgebra::SVector;

use super::step::StepReport;
use super::stream::{MONOMER, Stream};

/// UF/DF parameters, read from the train file's `[ufdf]` table (typical
/// ranges in the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct UfDf {
    /// Membrane area A, m².
    pub membrane_area_m2: f64,
    /// Polarisation mass-transfer coefficient k, m/s (Zeman & Zydney: 1e-6 to 1e-5).
    pub mass_transfer_m_per_s: f64,
    /// Gel concentration c_gel, kg/m³ (mAb 200-300), where the flux falls to zero.
    pub gel_concentration_kg_per_m3: f64,
    /// Product concentration at which diafiltration runs, kg/m³ (end of UF1).
    pub diafiltration_concentration_kg_per_m3: f64,
    /// Diavolumes N of buffer exchanged in DF.
    pub diavolumes: f64,
    /// Target product concentration at the end of UF2, kg/m³.
    pub final_concentration_kg_per_m3: f64,
    /// Sieving coefficients: monomer, aggregate, HCP, DNA.
    pub sieving: [f64; 4],
    /// Sieving coefficient of the small buffer solute being exchanged.
    pub buffer_sieving: f64,
    /// Fraction Y of the final retentate recovered (hold-up and flush loss), 0-1.
    pub recovery_yield: f64,
}

/// State: [V, monomer, aggregate, HCP, DNA, old-buffer solute, t,
/// permeate monomer, aggregate, HCP, DNA (cumulative, kg)].
type State = SVector<f64, 11>;

/// dy/dV_p of one phase (concentration, or constant-volume diafiltration).
fn phase_rhs(uf: &UfDf, diafiltration: bool, y: &State, dy: &mut State) {
    let v = y[0];
    let c = (y[1] + y[2]) / v;
    dy[0] = if diafiltration { 0.0 } else { -1.0 };
    for i in 0..4 {
        let through = uf.sieving[i] * y[1 + i] / v;
        dy[1 + i] = -through;
        dy[7 + i] = through;
    }
    dy[5] = -uf.buffer_sieving * y[5] / v;
    dy[6] = 1.0 / (uf.membrane_area_m2 * uf.flux_m_per_s(c));
}

impl UfDf {
    /// Permeate flux at bulk protein concentration c (kg/m³), m/s.
    pub fn flux_m_per_s(&self, c: f64) -> f64 {
        self.mass_transfer_m_per_s * (self.gel_concentration_kg_per_m3 / c).ln()
    }

    fn integrate(
        &self,
        y: State,
        permeate_m3: f64,
        diafiltration: bool,
    ) -> Result<State, UfDfFailure> {
        if permeate_m3 <= 0.0 {
            return Ok(y);
        }
        let settings = Settings {
            rtol: 1e-10,
            atol: State::repeat(1e-14),
            max_steps: 100_000,
            controlled: 11,
        };
        let mut f = |_vp: f64, y: &State, dy: &mut State| phase_rhs(self, diafiltration, y, dy);
        let mut none = Vec::new();
        let mut finite = |_vp: f64, y: &State| {
            if y.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err(UfDfFailure::NonFinite)
            }
        };
        match dopri5::integrate(
            &mut f,
            0.0,
            permeate_m3,
            &y,
            permeate_m3 / 64.0,
            &settings,
            &[],
            &mut none,
            &mut finite,
        ) {
            Ok((y1, _)) => Ok(y1),
            Err(Stop::Rejected(failure)) => Err(failure),
            Err(Stop::MaxSteps { steps, .. }) => Err(UfDfFailure::MaxSteps { steps }),
            Err(Stop::StepUnderflow { t }) => Err(UfDfFailure::StepUnderflow { permeate_m3: t }),
        }
    }

    /// Runs UF1 → DF → UF2. Also returns the fraction of the old buffer solute
    /// left (for the e^{-N} check) in `details`.
    ///
    /// # Errors
    ///
    /// [`Error::UfDf`] when an integration phase fails (a non-finite state,
    /// too many steps, a step underflow), with the stream fed to the step.
    pub fn run(&self, input: &Stream) -> Result<StepReport, Error> {
        self.phases(input).map_err(|failure| Error::UfDf {
            failure,
            input: *input,
        })
    }

    /// UF1 → DF → UF2 ([`UfDf::run`]).
    fn phases(&self, input: &Stream) -> Result<StepReport, UfDfFailure> {
        let m = input.mass_kg;
        let mut y = State::from_column_slice(&[
            input.volume_m3,
            m[0],
            m[1],
            m[2],
            m[3],
            1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ]);
        // UF1: concentrate to the DF concentration (protein retained, S ≈ 0).
        let v_df = (y[MONOMER + 1] + y[2]) / self.diafiltration_concentration_kg_per_m3;
        let uf1 = (y[0] - v_df).max(0.0);
        y = self.integrate(y, uf1, false)?;
        let df_start = y;
        let df = self.diavolumes * y[0];
        y = self.integrate(y, df, true)?;
        let washout = y[5] / df_start[5];
        let v_final = (y[1] + y[2]) / self.final_concentration_kg_per_m3;
        let uf2 = (y[0] - v_final).max(0.0);
        y = self.integrate(y, uf2, false)?;
        let r = self.recovery_yield;
        let retentate = Stream {
            volume_m3: y[0],
            mass_kg: [y[1], y[2], y[3], y[4]],
            log10_virus: input.log10_virus,
        };
        let output = retentate.scaled(r, [r; 4]);
        // Permeate of the three phases plus the hold-up loss.
        let holdup = retentate.scaled(1.0 - r, [1.0 - r; 4]);
        let mut waste = Stream {
            volume_m3: uf1 + df + uf2 + holdup.volume_m3,
            mass_kg: [y[7], y[8], y[9], y[10]],
            log10_virus: f64::NEG_INFINITY,
        };
        for k in 0..4 {
            waste.mass_kg[k] += holdup.mass_kg[k];
        }
        Ok(StepReport {
            name: "UF/DF".into(),
            input: *input,
            output,
            waste,
            buffer_added_m3: df,
            formed_kg: [0.0; 4],
            virus_lrv: 0.0,
            duration_s: y[6],
            details: vec![
                ("buffer_solute_left".into(), washout, "fraction".into()),
                ("df_volume".into(), df_start[0] * 1e3, "L".into()),
                (
                    "flux_at_df".into(),
                    self.flux_m_per_s(self.diafiltration_concentration_kg_per_m3) * 3.6e6,
                    "L/(m2 h)".into(),
                ),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ufdf(n: f64) -> UfDf {
        UfDf {
            membrane_area_m2: 2.0,
            mass_transfer_m_per_s: 5e-6,
            gel_concentration_kg_per_m3: 250.0,
            diafiltration_concentration_kg_per_m3: 60.0,
            diavolumes: n,
            final_concentration_kg_per_m3: 120.0,
            sieving: [0.0, 0.0, 0.05, 0.0],
            buffer_sieving: 1.0,
            recovery_yield: 0.98,
        }
    }

    fn feed() -> Stream {
        Stream {
            volume_m3: 0.5,
            mass_kg: [5.0, 0.05, 5e-5, 1e-8],
            log10_virus: 0.0,
        }
    }

    #[test]
    fn diafiltration_washes_out_as_exp_minus_n() {
        for n in [3.0, 7.0, 10.0] {
            let r = ufdf(n).run(&feed()).unwrap();
            let left = r.details[0].1;
            assert!(
                ((left - (-n).exp()) / (-n).exp()).abs() < 1e-6,
                "N={n}: {left}"
            );
        }
    }

    #[test]
    fn reaches_target_concentration_and_time_matches_quadrature() {
        let u = ufdf(7.0);
        let r = u.run(&feed()).unwrap();
        let c = r.output.product_g_per_l();
        assert!((c - 120.0).abs() < 1e-6, "{c}");
        // Independent time: UF1 and UF2 by Simpson's rule of
        // t = (m/(A k)) ∫ dc / (c² ln(c_g/c)), DF: N V_df / (A J(c_df)).
        let m = 5.05;
        let simpson = |a: f64, b: f64| {
            let n = 2000;
            let h = (b - a) / n as f64;
            let f = |c: f64| 1.0 / (c * c * (250.0f64 / c).ln());
            (0..=n)
                .map(|i| {
                    let w = if i == 0 || i == n {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * f(a + i as f64 * h)
                })
                .sum::<f64>()
                * h
                / 3.0
        };
        let uf = m / (2.0 * 5e-6) * (simpson(10.1, 60.0) + simpson(60.0, 120.0));
        let df = 7.0 * (m / 60.0) / (2.0 * u.flux_m_per_s(60.0));
        let expected = uf + df;
        assert!(
            ((r.duration_s - expected) / expected).abs() < 1e-6,
            "{} vs {expected}",
            r.duration_s
        );
        // HCP partly passes (S = 0.05), DNA and product retained
        assert!(r.output.mass_kg[2] < 0.98 * 5e-5);
        for (s, d) in r.mass_balance_defects() {
            assert!(d.abs() < 1e-9, "{s}: {d}");
        }
    }
}
