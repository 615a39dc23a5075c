//! Low-pH viral inactivation hold.
//!
//! Enveloped viruses (X-MuLV as the model retrovirus) are inactivated with
//! first-order kinetics, N(t) = N₀ e^{-k t}, so LRV = k t / ln 10, limited by
//! the assay (`max_lrv`). The rate rises a decade per `ph_decades` pH units
//! below the reference and with temperature (Arrhenius):
//!
//! k = k_ref 10^{(pH_ref - pH)/Δ_pH} exp(-E_a/R (1/T - 1/T_ref)).
//!
//! Defaults reproduce Brorson et al., Biotechnol. Bioeng. 82 (2003) 321:
//! ≥ 4.5-5 LRV within 30-60 min at pH ≤ 3.8 and 18-26 °C, incomplete above
//! pH 4.0. Low pH also converts monomer to aggregate, first order,
//! d m_agg/dt = k_agg m_mono, with k_agg of the same form (typical HMW growth
//! 0.1-1 %/h at pH 3.5: Vázquez-Rey & Lang, Biotechnol. Bioeng. 108 (2011)
//! 1494). Neutralisation adds titrant volume; the hold loses a small product
//! fraction to hold-up and filtration.
//!
//! Waste: the hold-up fraction (1 - Y) of the held pool (after conversion)
//! and of its liquid; the titrant Y f V_in is buffer added.

use super::step::StepReport;
use super::stream::{AGGREGATE, MONOMER, Stream};
use biotwin_core::units::GAS_CONSTANT;

/// Low-pH hold parameters, read from the train file's `[viral_inactivation]`
/// table (minutes, °C and kJ/mol there; SI here).
#[derive(Debug, Clone, PartialEq)]
pub struct LowPhHold {
    /// Hold time t, s.
    pub hold_time_s: f64,
    /// Hold pH.
    pub ph: f64,
    /// Hold temperature T, K.
    pub temperature_k: f64,
    /// Virus inactivation rate k_ref at pH_ref and T_ref, 1/s (Brorson et al. 2003).
    pub k_ref_per_s: f64,
    /// Monomer → aggregate rate at pH_ref and T_ref, 1/s (Vázquez-Rey & Lang 2011:
    /// 0.1-1 %/h at pH 3.5).
    pub aggregation_k_ref_per_s: f64,
    /// Reference pH of both rates.
    pub ph_ref: f64,
    /// pH units per decade of rate change.
    pub ph_per_decade: f64,
    /// pH units per decade of change of the aggregation rate.
    pub aggregation_ph_per_decade: f64,
    /// Arrhenius activation energy E_a of both rates, J/mol.
    pub activation_energy_j_per_mol: f64,
    /// Reference temperature T_ref, K.
    pub t_ref_k: f64,
    /// Largest LRV the assay can show (the claim is capped here).
    pub max_lrv: f64,
    /// Fraction Y of product and liquid kept (hold-up and filtration loss), 0-1.
    pub product_yield: f64,
    /// Titrant added for neutralisation, as a fraction f of the held volume.
    pub neutralisation_volume_fraction: f64,
}

impl LowPhHold {
    fn rate(&self, k_ref: f64, ph_per_decade: f64) -> f64 {
        k_ref
            * 10f64.powf((self.ph_ref - self.ph) / ph_per_decade)
            * (-self.activation_energy_j_per_mol / GAS_CONSTANT
                * (1.0 / self.temperature_k - 1.0 / self.t_ref_k))
                .exp()
    }

    /// Log reduction value reached after the hold.
    pub fn lrv(&self) -> f64 {
        (self.rate(self.k_ref_per_s, self.ph_per_decade) * self.hold_time_s
            / std::f64::consts::LN_10)
            .min(self.max_lrv)
    }

    /// Holds `input`: the virus LRV of [`lrv`](Self::lrv), monomer converted to
    /// aggregate, neutralisation titrant added, hold-up loss. Never fails.
    pub fn run(&self, input: &Stream) -> StepReport {
        let k_agg = self.rate(self.aggregation_k_ref_per_s, self.aggregation_ph_per_decade);
        let converted = input.mass_kg[MONOMER] * (1.0 - (-k_agg * self.hold_time_s).exp());
        let mut formed = [0.0; 4];
        formed[MONOMER] = -converted;
        formed[AGGREGATE] = converted;
        let mut held = *input;
        held.mass_kg[MONOMER] -= converted;
        held.mass_kg[AGGREGATE] += converted;
        let y = self.product_yield;
        let mut output = held.scaled(y, [y; 4]);
        output.volume_m3 = input.volume_m3 * y * (1.0 + self.neutralisation_volume_fraction);
        let lrv = self.lrv();
        output.log10_virus = input.log10_virus - lrv;
        let waste = held.scaled(1.0 - y, [1.0 - y; 4]);
        StepReport {
            name: "low-pH viral inactivation".into(),
            input: *input,
            output,
            waste: Stream {
                log10_virus: f64::NEG_INFINITY,
                ..waste
            },
            buffer_added_m3: input.volume_m3 * y * self.neutralisation_volume_fraction,
            formed_kg: formed,
            virus_lrv: lrv,
            duration_s: self.hold_time_s,
            details: vec![
                ("lrv".into(), lrv, "log10".into()),
                ("aggregate_formed".into(), converted * 1e3, "g".into()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn brorson() -> LowPhHold {
        LowPhHold {
            hold_time_s: 1800.0,
            ph: 3.6,
            temperature_k: 293.15,
            k_ref_per_s: 6.4e-3,
            aggregation_k_ref_per_s: 8.3e-7,
            ph_ref: 3.6,
            ph_per_decade: 0.5,
            aggregation_ph_per_decade: 1.0,
            activation_energy_j_per_mol: 8.0e4,
            t_ref_k: 293.15,
            max_lrv: 6.0,
            product_yield: 0.99,
            neutralisation_volume_fraction: 0.05,
        }
    }

    #[test]
    fn lrv_rises_with_time_and_falls_with_ph_and_cold() {
        let base = brorson();
        let lrv = base.lrv();
        assert!((lrv - 6.4e-3 * 1800.0 / std::f64::consts::LN_10).abs() < 1e-9);
        assert!(lrv > 4.5, "{lrv}");
        let longer = LowPhHold {
            hold_time_s: 3600.0,
            ..base.clone()
        };
        assert!(longer.lrv() > lrv || longer.lrv() == base.max_lrv);
        let higher_ph = LowPhHold {
            ph: 4.1,
            ..base.clone()
        };
        assert!(
            (higher_ph.lrv() - lrv / 10.0).abs() < 1e-9,
            "one decade per 0.5 pH"
        );
        let cold = LowPhHold {
            temperature_k: 283.15,
            ..base.clone()
        };
        assert!(cold.lrv() < lrv);
        let r = base.run(&Stream {
            volume_m3: 1.0,
            mass_kg: [10.0, 0.2, 1e-3, 1e-6],
            log10_virus: 8.0,
        });
        assert!(r.output.mass_kg[AGGREGATE] > 0.99 * 0.2);
        for (s, d) in r.mass_balance_defects() {
            assert!(d.abs() < 1e-12, "{s}: {d}");
        }
    }
}
