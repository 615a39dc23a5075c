//! The crate's typed errors, and defects fixed with them: an outlet CSV
//! written in place (not atomically), and NaN from an empty DBC table.

use biotwin_downstream::column::{ColumnResult, MeshReport};
use biotwin_downstream::error::Error;
use biotwin_downstream::train::{TrainStep, load_train, run_train};

fn shipped_train() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../process-models/downstream/cho_mab_train.toml")
}

/// The outlet CSV replaces its file as a whole (a temporary renamed over
/// it): a second name (hard link) of the old file keeps the old content.
/// Written in place, the old file is truncated and overwritten, so a reader
/// can see half a profile.
#[test]
fn outlet_csv_is_written_atomically() {
    let result = ColumnResult {
        component_names: vec!["mAb".into()],
        time_s: vec![0.0, 1.0],
        uv_au_per_cm: vec![0.0, 0.0],
        outlet_mol_per_m3: vec![vec![0.0, 0.5]],
        section_outlet_mol: vec![vec![0.0]],
        pools: Vec::new(),
        mass_balance: Vec::new(),
        steps: 1,
        mesh: MeshReport {
            elements: 1,
            polynomial_degree: 1,
            estimated_error: None,
            elements_tried: vec![1],
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("outlet.csv");
    let other = dir.path().join("old-outlet.csv");
    std::fs::write(&out, "old profile\n").unwrap();
    std::fs::hard_link(&out, &other).unwrap();
    result.write_outlet_csv(&out).unwrap();
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.starts_with("time_s,mAb_mol_per_m3\n"), "{written}");
    assert_eq!(written.lines().count(), 3, "{written}");
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "old profile\n",
        "the old file was overwritten in place"
    );
    // No temporary left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A Protein A step built in code with an empty DBC curve is an input
/// error naming the table (exit code 2), not a NaN DBC that sizes NaN
/// cycles and gives a NaN drug substance.
#[test]
fn an_empty_dbc_table_is_an_error_naming_it() {
    let mut train = load_train(shipped_train()).unwrap();
    let mut found = false;
    for step in &mut train.steps {
        match step {
            TrainStep::ProteinA(p) => {
                p.dbc_curve.clear();
                found = true;
            }
            TrainStep::Polishing(_, column) => *column = None,
            _ => {}
        }
    }
    assert!(found, "the shipped train has a Protein A step");
    let e = match run_train(&train) {
        Err(e) => e,
        Ok(r) => panic!(
            "expected an error, got a drug substance of {} kg",
            r.drug_substance.product_kg()
        ),
    };
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(
        matches!(&e, Error::EmptyTable { table } if table == "protein_a.dbc_curve"),
        "{e:?}"
    );
    assert!(e.to_string().contains("protein_a.dbc_curve"), "{e}");
}

/// Input errors read from a file pass through as the core's diagnostics.
#[test]
fn a_missing_train_file_is_a_core_error() {
    let e = load_train("/nonexistent/train.toml").unwrap_err();
    assert!(matches!(e, Error::Core(_)), "{e:?}");
}
