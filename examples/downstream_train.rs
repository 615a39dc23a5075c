//! Runs a downstream train file and prints step yields, CQAs after each step
//! and the drug substance against its specification.
//!
//! `cargo run --release --example downstream_train -- process-models/downstream/cho_mab_train.toml`

use std::process::ExitCode;

use biotwin::downstream::train;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "process-models/downstream/cho_mab_train.toml".into());
    let result = train::load_train(&path).and_then(|t| train::run_train(&t).map(|r| (t, r)));
    match result {
        Ok((t, r)) => {
            print!("{}", r.format_table(&t));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
