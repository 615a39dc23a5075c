//! Invalid column files are rejected with one diagnostic per problem, each
//! naming the field, its line, what was expected and what was found.

use biotwin_core::error::Diagnostics;
use biotwin_downstream::column;

const BAD: &str = r#"name = "bad column"
[column]
model = "lumped_rate_without_pores"
length_m = 0.0
inner_diameter_m = 0.01
total_porosity = -0.3
flow_rate_ml_per_min = 3.0

[binding]
model = "sma"
ionic_capacity_mol_per_m3 = 500.0

[[components]]
name = "salt"
axial_dispersion_m2_per_s = 1e-7
initial_mol_per_m3 = 50.0

[[components]]
name = "monomer"
axial_dispersion_m2_per_s = 1e-7
[components.binding]
sma_ka = 1.0
sma_kd = 1.0
characteristic_charge = -5.0
steric_factor = 10.0

[[sections]]
name = "gradient"
duration_s = 600.0
inlet_mol_per_m3 = [50.0, 0.0]
gradient_mol_per_m3_per_s = [-0.5, 0.0]
"#;

fn problems(text: &str) -> Diagnostics {
    column::parse_column_text("bad.toml", text).unwrap_err()
}

fn find<'a>(d: &'a Diagnostics, field: &str) -> &'a biotwin_core::error::Diagnostic {
    d.iter()
        .find(|x| x.field == field)
        .unwrap_or_else(|| panic!("no diagnostic for {field} in:\n{d}"))
}

#[test]
fn every_problem_is_reported_at_once_with_field_and_line() {
    let d = problems(BAD);
    println!("{d}");
    let length = find(&d, "column.length_m");
    assert_eq!(length.line, Some(4));
    assert!(length.expected.contains("> 0"), "{length}");
    assert_eq!(length.found, "0");

    let porosity = find(&d, "column.total_porosity");
    assert_eq!(porosity.line, Some(6));
    assert!(porosity.expected.contains("0 < ε < 1"), "{porosity}");
    assert_eq!(porosity.found, "-0.3");

    // 50 mol/m³ - 0.5 mol/m³/s × 600 s = -250 mol/m³: the salt gradient leaves the range.
    let gradient = find(&d, "sections[0].gradient_mol_per_m3_per_s");
    assert_eq!(gradient.line, Some(31));
    assert!(gradient.found.contains("-250"), "{gradient}");

    let charge = find(&d, "components[1].binding.characteristic_charge");
    assert_eq!(charge.line, Some(24));
    assert_eq!(d.len(), 4, "{d}");
}

#[test]
fn shape_and_reference_errors_name_the_field() {
    let text = BAD
        .replace("length_m = 0.0", "length_m = 0.1")
        .replace("total_porosity = -0.3", "total_porosity = 0.7")
        .replace(
            "characteristic_charge = -5.0",
            "characteristic_charge = 5.0",
        )
        .replace(
            "gradient_mol_per_m3_per_s = [-0.5, 0.0]",
            "gradient_mol_per_m3_per_s = [0.5]",
        )
        .replace("model = \"lumped_rate_without_pores\"", "model = \"ideal\"")
        + "\n[[pools]]\nname = \"p\"\ncomponent = \"dimer\"\nsection = \"gradient\"\nstart_above_mol_per_m3 = 1e-3\nend_below_mol_per_m3 = 1e-3\n";
    let d = problems(&text);
    println!("{d}");
    assert!(
        find(&d, "column.model")
            .expected
            .contains("lumped_rate_without_pores")
    );
    assert_eq!(find(&d, "sections[0].gradient_mol_per_m3_per_s").found, "1");
    assert!(find(&d, "pools[0].component").found.contains("dimer"));
    assert_eq!(d.len(), 3, "{d}");
}

#[test]
fn unknown_keys_and_wrong_types_are_reported_by_line() {
    let text = BAD.replace("length_m = 0.0", "length_m = \"ten cm\"\nlenght_cm = 10");
    let d = problems(&text);
    assert!(
        d.iter()
            .any(|x| x.line == Some(4) && x.expected.contains("f64")),
        "{d}"
    );
    let text = BAD.replace(
        "inner_diameter_m = 0.01",
        "inner_diameter_m = 0.01\ndiameter_cm = 1",
    );
    let d = problems(&text);
    assert!(
        find(&d, "column.diameter_cm")
            .found
            .contains("unknown field"),
        "{d}"
    );
}

#[test]
fn a_missing_file_is_an_input_error() {
    let e = column::load("/nonexistent/column.toml").unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn a_spec_built_in_code_with_a_bad_shape_is_an_input_error_not_a_panic() {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("tests/fixtures/chromatography/a_lrm_langmuir.toml"),
    )
    .unwrap();
    let good = column::parse_column_text("ok.toml", &text).unwrap();
    let mut no_sections = good.clone();
    no_sections.sections.clear();
    let mut zero_interval = good.clone();
    zero_interval.solver.output_interval_s = 0.0;
    let mut bad_pool = good;
    bad_pool.pools[0].component = 7;
    for spec in [no_sections, zero_interval, bad_pool] {
        let e = column::simulate(&spec).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}
