//! Equipment catalog: every shipped file loads and is physically sensible;
//! impossible files get diagnostics naming field and line.

use std::path::{Path, PathBuf};

use biotwin_core::equipment::{Equipment, list_catalog, resolve_equipment};
use biotwin_core::error::Diagnostics;

fn catalog_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("process-models/equipment")
}

const SHIPPED: [&str; 6] = [
    "bench-3l-glass",
    "sut-50l",
    "sut-200l",
    "sut-2000l-pbt-drilled",
    "sut-2000l-microsparger",
    "ss-15000l",
];

#[test]
fn every_shipped_file_loads_and_is_physically_sensible() {
    let listed = list_catalog(&catalog_dir());
    for id in SHIPPED {
        assert!(listed.iter().any(|(i, _, _)| i == id), "{id} not listed");
    }
    for (id, name, path) in listed {
        let eq = Equipment::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(eq.id(), id);
        assert!(!name.is_empty());
        assert_eq!(
            path.file_stem().unwrap().to_str().unwrap(),
            id,
            "file stem and id differ"
        );
        let t = eq.tank_diameter_m();
        let (vmin, vmax) = eq.working_volume_range_m3();
        let h_over_t = eq.liquid_height_m(vmax) / t;
        assert!((1.0..=2.2).contains(&h_over_t), "{id}: H/T = {h_over_t}");
        for imp in eq.impellers() {
            let r = imp.diameter_m / t;
            assert!((0.3..=0.5).contains(&r), "{id}: D/T = {r}");
        }
        assert!(vmin < vmax);
        // Liquid height is consistent with volume: V(H(V)) = V.
        let g = eq.geometry();
        for v in [vmin, 0.5 * (vmin + vmax), vmax] {
            let back = g.volume_at_height_m3(eq.liquid_height_m(v));
            assert!((back - v).abs() <= 1e-12 * v, "{id}: {back} vs {v}");
        }
        // The kLa correlation gives cell-culture values (1-40 1/h) at 20 W/m³
        // ungassed P/V and 0.02 vvm, 37 °C.
        let n = (20.0 * vmax / eq.ungassed_power_w(1.0, 1000.0)).cbrt();
        let q = eq.actual_gas_flow_m3_per_s(0.02 * vmax * 1e3, 310.15, vmax);
        let kla_h = eq.kla_o2_per_s(n, q, vmax) * 3600.0;
        assert!((1.0..=40.0).contains(&kla_h), "{id}: kLa {kla_h} 1/h");
    }
}

#[test]
fn the_two_2000_l_vessels_differ_in_geometry() {
    let a = Equipment::load(&catalog_dir().join("sut-2000l-pbt-drilled.toml")).unwrap();
    let b = Equipment::load(&catalog_dir().join("sut-2000l-microsparger.toml")).unwrap();
    assert_ne!(a.impellers().len(), b.impellers().len());
    assert_ne!(a.sparger().kind, b.sparger().kind);
    assert!((a.tank_diameter_m() - b.tank_diameter_m()).abs() > 0.05);
}

#[test]
fn resolves_ids_and_paths_and_names_known_ids_when_unknown() {
    let dir = catalog_dir();
    let p = resolve_equipment("sut-50l", Path::new("/nonexistent"), &dir).unwrap();
    assert_eq!(p, dir.join("sut-50l.toml"));
    let p = resolve_equipment("equipment/sut-200l.toml", &dir.join(".."), &dir).unwrap();
    assert!(p.ends_with("equipment/sut-200l.toml"));
    let err = resolve_equipment("sut-9000l", Path::new("/x"), &dir).unwrap_err();
    assert!(err.expected.contains("sut-2000l-microsparger"), "{err}");
    assert!(err.found.contains("sut-9000l"), "{err}");
    let err = resolve_equipment("missing/file.toml", Path::new("/x"), &dir).unwrap_err();
    assert!(err.found.contains("no such file"), "{err}");
}

#[test]
fn resolves_an_id_that_differs_from_the_file_stem() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("vessel-a.toml"),
        base().replace("id = \"test-vessel\"", "id = \"site-b-r1\""),
    )
    .unwrap();
    let p = resolve_equipment("site-b-r1", Path::new("/x"), tmp.path()).unwrap();
    assert!(p.ends_with("vessel-a.toml"));
}

/// A valid 2000 L file the impossible variants are made from.
fn base() -> String {
    r#"id = "test-vessel"
name = "test vessel"
kind = "single-use"

[vessel]
tank_diameter_m = 1.2
bottom = "dished"
bottom_depth_m = 0.2
straight_side_height_m = 1.85
headspace_gauge_pressure_bar = 0.02
working_volume_min_l = 1000
working_volume_max_l = 2000

[[impellers]]
type = "pitched-blade"
diameter_m = 0.4
power_number = 1.5
blade_width_m = 0.08
clearance_m = 0.4

[sparger]
type = "drilled-pipe"
gas_flow_min_slpm = 2
gas_flow_max_slpm = 200

[agitation]
min_rpm = 20
max_rpm = 100

[kla]
a = 93.6
alpha = 0.4
beta = 0.5
p_per_v_min_w_per_m3 = 5
p_per_v_max_w_per_m3 = 150
v_s_min_m_per_s = 1e-4
v_s_max_m_per_s = 5e-3

[sources]
vessel = "assumed"
impellers = "assumed"
sparger = "assumed"
agitation = "assumed"
kla = "assumed"
"#
    .to_string()
}

fn load_text(text: &str) -> Result<Equipment, Diagnostics> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vessel.toml");
    std::fs::write(&path, text).unwrap();
    Equipment::load(&path)
}

/// 1-based line of the first line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix}"))
        + 1
}

/// Asserts one diagnostic on `field` at the line of `line_prefix` whose
/// expected/found texts contain the given words.
fn assert_diag(err: &Diagnostics, text: &str, field: &str, line_prefix: &str, words: &[&str]) {
    let d = err
        .iter()
        .find(|d| d.field == field)
        .unwrap_or_else(|| panic!("no diagnostic for {field} in\n{err}"));
    assert_eq!(d.line, Some(line_of(text, line_prefix)), "{d}");
    let all = format!("{} {}", d.expected, d.found);
    for w in words {
        assert!(all.contains(w), "`{w}` missing from: {d}");
    }
    assert!(d.file.ends_with("vessel.toml"));
}

#[test]
fn base_file_is_valid() {
    let eq = load_text(&base()).unwrap();
    assert_eq!(eq.id(), "test-vessel");
    assert!((eq.headspace_pressure_pa() - (101_325.0 + 2000.0)).abs() < 1e-9);
    assert_eq!(eq.agitation_range_rps(), (20.0 / 60.0, 100.0 / 60.0));
    assert_eq!(eq.gas_flow_range_slpm(), (2.0, 200.0));
}

#[test]
fn impeller_wider_than_the_tank() {
    let text = base().replace("diameter_m = 0.4", "diameter_m = 1.5");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "impellers[0].diameter_m",
        "diameter_m = 1.5",
        &["wider than the tank", "1.5"],
    );
}

#[test]
fn impeller_too_small_for_the_tank() {
    let text = base().replace("diameter_m = 0.4", "diameter_m = 0.05");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "impellers[0].diameter_m",
        "diameter_m = 0.05",
        &["D/T"],
    );
}

#[test]
fn negative_volume_and_zero_diameter() {
    let text = base()
        .replace("working_volume_min_l = 1000", "working_volume_min_l = -5")
        .replace("tank_diameter_m = 1.2", "tank_diameter_m = 0");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "vessel.working_volume_min_l",
        "working_volume_min_l",
        &["positive", "-5"],
    );
    assert_diag(
        &err,
        &text,
        "vessel.tank_diameter_m",
        "tank_diameter_m",
        &["positive", "m"],
    );
}

#[test]
fn kla_constants_out_of_physical_range() {
    let text = base()
        .replace("alpha = 0.4", "alpha = 3.0")
        .replace("beta = 0.5", "beta = 0.0")
        .replace("a = 93.6", "a = -1");
    let err = load_text(&text).unwrap_err();
    assert_diag(&err, &text, "kla.alpha", "alpha", &["0.1", "1.5", "3"]);
    assert_diag(&err, &text, "kla.beta", "beta", &["0.1", "1.2"]);
    assert_diag(&err, &text, "kla.a", "a = -1", &["positive"]);
}

#[test]
fn min_above_max_in_every_range() {
    let text = base()
        .replace("min_rpm = 20", "min_rpm = 200")
        .replace("gas_flow_min_slpm = 2", "gas_flow_min_slpm = 300")
        .replace("p_per_v_min_w_per_m3 = 5", "p_per_v_min_w_per_m3 = 500")
        .replace("v_s_min_m_per_s = 1e-4", "v_s_min_m_per_s = 1e-2")
        .replace("working_volume_min_l = 1000", "working_volume_min_l = 2100");
    let err = load_text(&text).unwrap_err();
    for (field, prefix) in [
        ("agitation.min_rpm", "min_rpm"),
        ("sparger.gas_flow_min_slpm", "gas_flow_min_slpm"),
        ("kla.p_per_v_min_w_per_m3", "p_per_v_min"),
        ("kla.v_s_min_m_per_s", "v_s_min"),
        ("vessel.working_volume_min_l", "working_volume_min_l"),
    ] {
        assert_diag(&err, &text, field, prefix, &["min > max"]);
    }
}

#[test]
fn working_volume_that_does_not_fit() {
    let text = base().replace("working_volume_max_l = 2000", "working_volume_max_l = 3000");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "vessel.working_volume_max_l",
        "working_volume_max_l",
        &["fits in the vessel", "3000"],
    );
}

#[test]
fn bottom_depth_must_match_the_bottom_shape() {
    let text = base().replace("bottom = \"dished\"", "bottom = \"flat\"");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "vessel.bottom_depth_m",
        "bottom_depth_m",
        &["flat"],
    );
    let text = base().replace("bottom_depth_m = 0.2", "bottom_depth_m = 0.9");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "vessel.bottom_depth_m",
        "bottom_depth_m",
        &["0.6", "0.9"],
    );
}

#[test]
fn impeller_outside_the_vessel_and_blade_wider_than_impeller() {
    let text = base()
        .replace("clearance_m = 0.4", "clearance_m = 7")
        .replace("blade_width_m = 0.08", "blade_width_m = 0.5");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "impellers[0].clearance_m",
        "clearance_m",
        &["inside the vessel"],
    );
    assert_diag(
        &err,
        &text,
        "impellers[0].blade_width_m",
        "blade_width_m",
        &["blade height"],
    );
}

#[test]
fn uncovered_bottom_impeller_at_minimum_volume() {
    let text = base().replace("working_volume_min_l = 1000", "working_volume_min_l = 50");
    let err = load_text(&text).unwrap_err();
    assert_diag(
        &err,
        &text,
        "vessel.working_volume_min_l",
        "working_volume_min_l",
        &["covers the lowest impeller"],
    );
}

#[test]
fn every_number_needs_a_source_and_every_source_a_field() {
    let text = base().replace("kla = \"assumed\"\n", "").replace(
        "agitation = \"assumed\"",
        "agitation = \"assumed\"\n\"vessel.colour\" = \"catalogue\"",
    );
    let err = load_text(&text).unwrap_err();
    assert_diag(&err, &text, "kla.alpha", "alpha", &["source"]);
    assert_diag(&err, &text, "kla.a", "a = 93.6", &["source"]);
    assert_diag(
        &err,
        &text,
        "sources",
        "\"vessel.colour\"",
        &["vessel.colour"],
    );
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let text = base()
        .replace("diameter_m = 0.4", "diameter_m = 1.5")
        .replace("alpha = 0.4", "alpha = 3.0")
        .replace("max_rpm = 100", "max_rpm = -1");
    let err = load_text(&text).unwrap_err();
    assert!(err.mentions("impellers[0].diameter_m"), "{err}");
    assert!(err.mentions("kla.alpha"), "{err}");
    assert!(err.mentions("agitation.max_rpm"), "{err}");
}

#[test]
fn unknown_keys_and_bad_enum_values_are_located() {
    let text = base()
        .replace("type = \"drilled-pipe\"", "type = \"sieve\"")
        .replace(
            "kind = \"single-use\"",
            "kind = \"single-use\"\ncolour = \"blue\"",
        );
    let err = load_text(&text).unwrap_err();
    assert!(
        err.iter().any(|d| d.field == "colour" && d.line == Some(4)),
        "{err}"
    );
    let text = base().replace("type = \"drilled-pipe\"", "type = \"sieve\"");
    let err = load_text(&text).unwrap_err();
    let d = &err.0[0];
    assert_eq!(d.line, Some(line_of(&text, "type = \"sieve\"")), "{err}");
    assert!(d.expected.contains("microsparger"), "{err}");
}

#[test]
fn second_impeller_problems_point_at_the_second_impeller() {
    let path = catalog_dir().join("sut-2000l-microsparger.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Make only the second impeller wider than the 1.08 m tank.
    let first = text.find("diameter_m = 0.41").unwrap();
    let second = first + 1 + text[first + 1..].find("diameter_m = 0.41").unwrap();
    let bad = format!(
        "{}diameter_m = 1.30{}",
        &text[..second],
        &text[second + "diameter_m = 0.41".len()..]
    );
    let err = load_text(&bad).unwrap_err();
    println!("{err}");
    assert_eq!(err.len(), 1, "{err}");
    let d = &err.0[0];
    assert_eq!(d.field, "impellers[1].diameter_m");
    let line = bad[..second].matches('\n').count() + 1;
    assert_eq!(d.line, Some(line));
    assert!(
        d.to_string()
            .contains(&format!("vessel.toml:{line}: impellers[1].diameter_m")),
        "{d}"
    );
}

#[test]
fn catalog_listing_shows_broken_files_and_ignores_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("b-good.toml"), base()).unwrap();
    std::fs::write(tmp.path().join("a-broken.toml"), "id = [").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "not equipment").unwrap();
    let list = list_catalog(tmp.path());
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0].0, "a-broken");
    assert!(list[0].1.contains("not a valid TOML"));
    assert_eq!(list[1].0, "test-vessel");
    // An absolute path resolves regardless of the referring directory.
    let abs = tmp.path().join("b-good.toml");
    let p = resolve_equipment(
        abs.to_str().unwrap(),
        Path::new("/elsewhere"),
        &catalog_dir(),
    )
    .unwrap();
    assert_eq!(p, abs);
    assert!(list_catalog(&tmp.path().join("missing")).is_empty());
}
