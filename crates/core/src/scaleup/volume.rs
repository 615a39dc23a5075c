//! The default working volume of the target vessel when the user names none.

use crate::equipment::Equipment;

/// Default target initial volume (m³): the source's initial volume scaled by
/// the ratio of the vessels' maximum working volumes, clamped to the target's
/// working range:
///
/// `V_t = clamp(V_s · V_max,t / V_max,s, V_min,t, V_max,t)`.
///
/// Why: a fed-batch recipe is designed around the fill fraction of the
/// maximum working volume — the start volume leaves room for the feeds that
/// follow, so the batch ends near the maximum. Keeping that fraction
/// constant keeps the recipe's feeding headroom at the new scale; the clamp
/// keeps the start volume inside what the target vessel can hold and mix
/// (its minimum covers the bottom impeller).
///
/// ```
/// # use biotwin_core::equipment::Equipment;
/// # use biotwin_core::scaleup::default_target_volume_m3;
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../process-models/equipment");
/// let bench = Equipment::load(std::path::Path::new(&format!("{dir}/bench-3l-glass.toml")))?;
/// let sut = Equipment::load(std::path::Path::new(&format!("{dir}/sut-2000l-pbt-drilled.toml")))?;
/// // 1.5 L of a 2.4 L maximum is a 62.5 % fill: 1250 L of 2000 L.
/// let v = default_target_volume_m3(&bench, 1.5e-3, &sut);
/// assert!((v - 1.25).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn default_target_volume_m3(
    source: &Equipment,
    source_volume_m3: f64,
    target: &Equipment,
) -> f64 {
    let (_, source_max) = source.working_volume_range_m3();
    let (lo, hi) = target.working_volume_range_m3();
    (source_volume_m3 * hi / source_max).clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vessel(name: &str) -> Equipment {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../process-models/equipment"
        );
        Equipment::load(std::path::Path::new(&format!("{dir}/{name}.toml"))).unwrap()
    }

    #[test]
    fn keeps_the_fill_fraction_and_clamps_to_the_target_range() {
        let (bench, sut, ss) = (
            vessel("bench-3l-glass"),
            vessel("sut-2000l-pbt-drilled"),
            vessel("ss-15000l"),
        );
        // 1.5 / 2.4 L = 62.5 % fill -> 1250 of 2000 L (inside 500..2000 L).
        assert!((default_target_volume_m3(&bench, 1.5e-3, &sut) - 1.25).abs() < 1e-12);
        // 600 / 2000 L = 30 % -> 4500 L, below the 7500 L minimum: 7500 L.
        assert!((default_target_volume_m3(&sut, 0.6, &ss) - 7.5).abs() < 1e-12);
        // A source over its own maximum would overfill: clamped to 2000 L.
        assert!((default_target_volume_m3(&bench, 3.0e-3, &sut) - 2.0).abs() < 1e-12);
    }
}
