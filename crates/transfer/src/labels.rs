//! Human names with units for the metrics, trajectory columns and set-point
//! addresses the transfer reports show (the machine names stay in
//! `transfer.json` and beside these in the tables).

/// `name` as a reader would write it, with its unit; the name itself when
/// it is not one of the known quantities.
pub fn human(name: &str) -> String {
    let s = match name {
        "xv_1e6_cells_per_ml" => "Viable cell density [10⁶ cells/mL]",
        "viability_pct" => "Viability [%]",
        "titer_g_per_l" => "Titer [g/L]",
        "pco2_mmhg" => "Dissolved CO₂, pCO₂ [mmHg]",
        "peak_pco2_mmhg" => "Peak pCO₂ [mmHg]",
        "do_pct" => "Dissolved O₂ [% air saturation]",
        "osmolality_mosm_per_kg" => "Osmolality [mOsm/kg]",
        "galactosylated_pct" => "Galactosylated glycans [%]",
        "afucosylated_pct" => "Afucosylated glycans [%]",
        "high_mannose_pct" => "High-mannose glycans [%]",
        "acidic_variants_pct" => "Acidic charge variants [%]",
        "hmw_pct" => "High-molecular-weight species [%]",
        "hcp_mg_per_l" => "Host-cell protein [mg/L]",
        "dna_mg_per_l" => "Host-cell DNA [mg/L]",
        "ammonium_mm" => "Ammonium [mM]",
        "lactate_g_per_l" => "Lactate [g/L]",
        "glucose_g_per_l" => "Glucose [g/L]",
        "volume_l" => "Broth volume [L]",
        "setpoints.agitation_rpm" => "Agitation [rpm]",
        "setpoints.sparge_slpm" => "Sparge gas flow [SLPM]",
        "setpoints.do_pct" => "DO set-point [% air saturation]",
        "feeds.scale" => "Feed volume scale [× recipe]",
        "shifts[0].time_h" => "Temperature shift time [h]",
        "shifts[0].temperature_c" => "Temperature after shift [°C]",
        "initial.xv_1e6_cells_per_ml" => "Seeding density [10⁶ cells/mL]",
        "initial.volume_l" => "Initial volume [L]",
        "peak_volume_l" => "Highest broth volume [L]",
        "lowest_volume_l" => "Lowest broth volume [L]",
        "o2_capacity_ratio_pure_o2_at_max" => {
            "O₂ capacity with pure O₂ at the vessel's maximum / O₂ demand [–]"
        }
        "o2_capacity_ratio_air_at_max" => {
            "O₂ capacity with air at the vessel's maximum / O₂ demand [–]"
        }
        "lowest_do_pct" => "Lowest DO [% air saturation]",
        "max_sparge_slpm" => "Highest sparge gas flow [SLPM]",
        "min_sparge_slpm" => "Lowest sparge gas flow [SLPM]",
        "max_agitation_rpm" => "Highest agitation [rpm]",
        "min_agitation_rpm" => "Lowest agitation [rpm]",
        "max_tip_speed_m_per_s" => "Highest tip speed [m/s]",
        "min_kolmogorov_length_um" => "Smallest Kolmogorov length [µm]",
        "foam_superficial_gas_velocity_m_per_s" => {
            "Superficial gas velocity against the foam limit [m/s]"
        }
        "max_gassed_p_per_v_w_per_m3" => "Highest gassed P/V [W/m³]",
        "min_gassed_p_per_v_w_per_m3" => "Lowest gassed P/V [W/m³]",
        "max_superficial_gas_velocity_m_per_s" => "Highest superficial gas velocity [m/s]",
        "min_superficial_gas_velocity_m_per_s" => "Lowest superficial gas velocity [m/s]",
        "max_mixing_time_s" => "Longest mixing time [s]",
        "min_otr_air_mmol_per_l_h" => "Lowest O₂ transfer capacity with air [mmol/(L h)]",
        _ => return name.to_string(),
    };
    s.to_string()
}
