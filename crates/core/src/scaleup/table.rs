//! Fixed-width text rendering of a [`ScaleUpReport`]: one row per quantity
//! (with its unit), one column for the source and one per criterion; values
//! outside a limit carry a `!` and are explained below the table.

use std::fmt::Write;

use super::conditions::VesselConditions;
use super::report::ScaleUpReport;

const LABEL_WIDTH: usize = 30;
const COLUMN_WIDTH: usize = 12;

type Getter = fn(&VesselConditions) -> f64;

/// (label with unit, field name used by flags, getter)
const ROWS: [(&str, &str, Getter); 17] = [
    ("volume [L]", "volume_l", |c| c.volume_l),
    ("liquid height [m]", "liquid_height_m", |c| {
        c.liquid_height_m
    }),
    ("agitation [rpm]", "agitation_rpm", |c| c.agitation_rpm),
    ("sparge gas [SLPM]", "sparge_gas_slpm", |c| {
        c.sparge_gas_slpm
    }),
    ("vvm [1/min]", "vvm_per_min", |c| c.vvm_per_min),
    ("ungassed power [W]", "ungassed_power_w", |c| {
        c.ungassed_power_w
    }),
    ("gassed power [W]", "gassed_power_w", |c| c.gassed_power_w),
    ("ungassed P/V [W/m3]", "ungassed_p_per_v_w_per_m3", |c| {
        c.ungassed_p_per_v_w_per_m3
    }),
    ("gassed P/V [W/m3]", "gassed_p_per_v_w_per_m3", |c| {
        c.gassed_p_per_v_w_per_m3
    }),
    ("tip speed [m/s]", "tip_speed_m_per_s", |c| {
        c.tip_speed_m_per_s
    }),
    ("Reynolds [-]", "reynolds", |c| c.reynolds),
    ("mixing time [s]", "mixing_time_s", |c| c.mixing_time_s),
    ("kLa O2 [1/h]", "kla_per_h", |c| c.kla_per_h),
    (
        "superficial gas vel. [m/s]",
        "superficial_gas_velocity_m_per_s",
        |c| c.superficial_gas_velocity_m_per_s,
    ),
    ("Kolmogorov length [um]", "kolmogorov_length_um", |c| {
        c.kolmogorov_length_um
    }),
    ("OTR with air [mmol/(L h)]", "otr_air_mmol_per_l_h", |c| {
        c.otr_air_mmol_per_l_h
    }),
    ("pCO2 at peak OUR [mmHg]", "pco2_mmhg", |c| c.pco2_mmhg),
];

/// Four significant digits, switching to scientific notation for very large
/// or small magnitudes so the columns stay narrow.
pub fn format_value(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if !(1e-2..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// The comparison as a fixed-width table followed by the rules and the flags.
pub fn render_table(r: &ScaleUpReport) -> String {
    let mut out = String::new();
    let op = &r.operating_point;
    let p = &r.parameters;
    let _ = writeln!(
        out,
        "Scale-up {} ({} L) -> {} ({} L)",
        r.source.id,
        format_value(r.source.volume_l),
        r.target.id,
        format_value(r.target.volume_l)
    );
    let _ = writeln!(
        out,
        "T = {:.2} C, peak OUR = {} mmol/(L h), RQ = {}, kLa_CO2/kLa_O2 = {}, DO set-point = {} % air",
        op.temperature_k - 273.15,
        format_value(op.peak_our_mol_per_m3_s * 3600.0),
        p.respiratory_quotient,
        p.kla_co2_over_kla_o2,
        p.do_setpoint_fraction * 100.0
    );
    let _ = writeln!(out);
    // The chosen criterion's column is headed `*name`.
    let columns: Vec<(String, &VesselConditions)> =
        std::iter::once(("source".to_string(), &r.source_conditions))
            .chain(r.by_criterion.iter().map(|c| {
                let mark = if c.chosen { "*" } else { "" };
                (format!("{mark}{}", c.criterion.as_str()), &c.conditions)
            }))
            .collect();
    let _ = write!(out, "{:<LABEL_WIDTH$}", "quantity");
    for (name, _) in &columns {
        let _ = write!(out, "{name:>COLUMN_WIDTH$}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(LABEL_WIDTH + COLUMN_WIDTH * columns.len())
    );
    for (label, field, get) in ROWS {
        let _ = write!(out, "{label:<LABEL_WIDTH$}");
        for (_, c) in &columns {
            let flagged = c.flags.iter().any(|f| f.quantity == field);
            let cell = format!(
                "{}{}",
                format_value(get(c)),
                if flagged { "!" } else { " " }
            );
            let _ = write!(out, "{cell:>COLUMN_WIDTH$}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    if let Some(c) = r.chosen_criterion {
        let _ = writeln!(
            out,
            "* chosen criterion: {} (its set-points are the ones translated)",
            c.as_str()
        );
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Rules (target agitation; target gas flow):");
    for c in &r.by_criterion {
        let _ = writeln!(
            out,
            "{} {:<12} {}; {}",
            if c.chosen { "*" } else { " " },
            c.criterion.as_str(),
            c.agitation_rule,
            c.gas_rule
        );
    }
    let any = !r.source_conditions.flags.is_empty()
        || r.by_criterion
            .iter()
            .any(|c| !c.conditions.flags.is_empty());
    if any {
        let _ = writeln!(out);
        let _ = writeln!(out, "Flags (!):");
        for (name, c) in &columns {
            for f in &c.flags {
                let _ = writeln!(out, "  {name:<12} {}: {}", f.quantity, f.message);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_value;

    #[test]
    fn four_significant_digits() {
        assert_eq!(format_value(1234.5), "1234");
        assert_eq!(format_value(12.345), "12.35");
        assert_eq!(format_value(0.012345), "0.01235");
        assert_eq!(format_value(2.5e-4), "2.500e-4");
        assert_eq!(format_value(3.2e6), "3.200e6");
        assert_eq!(format_value(0.0), "0");
    }
}
