//! The `biotwin` command line: a thin layer over the library. Each command
//! lives in its own file; errors, joined in [`CliError`], map to exit codes
//! (2 invalid input, 3 numerical failure, 1 I/O) and are printed without a
//! panic.

/// `println!` that ends the process quietly when stdout is closed (a pipe
/// into `head`), instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_stdout(&format!($($t)*), true) };
}
/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_stdout(&format!($($t)*), false) };
}

mod audit;
mod downstream;
mod error;
mod evaluate;
mod evaluate_ladder;
mod fit;
mod forecast;
mod live;
mod live_at;
mod models;
mod promote;
mod scale_up;
mod serve;
mod simulate;
mod simulate_indpensim;
mod store;
mod train;
mod train_linfa;
mod transfer;
mod users;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Error;
pub use error::CliError;

#[derive(Parser, Debug)]
#[command(
    name = "biotwin",
    version,
    about = "Predictive digital twin for biopharmaceutical manufacturing",
    after_help = "Examples:\n  biotwin simulate process-models/processes/cho-platform-3l.toml --out run.csv --plot run.svg\n  biotwin validate process-models/processes/cho-platform-2000l.toml\n  biotwin models\n\nExit codes: 0 success, 1 I/O error, 2 invalid input, 3 numerical failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Simulate(simulate::Args),
    Validate(validate::Args),
    Models(models::Args),
    #[command(name = "scale-up")]
    ScaleUp(scale_up::Args),
    Transfer(transfer::Args),
    Train(train::Args),
    Evaluate(evaluate::Args),
    Fit(fit::Args),
    Forecast(forecast::Args),
    Promote(promote::Args),
    Live(live::Args),
    Audit(audit::Args),
    Serve(serve::Args),
    Users(users::Args),
    Store(store::Args),
}

/// Parses the command line, runs the command, prints any error and returns
/// the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result: Result<(), CliError> = match cli.command {
        Command::Simulate(a) => simulate::run(a).map_err(CliError::from),
        Command::Validate(a) => validate::run(a).map_err(CliError::from),
        Command::Models(a) => models::run(a),
        Command::ScaleUp(a) => scale_up::run(a).map_err(CliError::from),
        Command::Transfer(a) => transfer::run(a).map_err(CliError::from),
        Command::Train(a) => train::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Fit(a) => fit::run(a).map_err(CliError::from),
        Command::Forecast(a) => forecast::run(a).map_err(CliError::from),
        Command::Promote(a) => promote::run(a),
        Command::Live(a) => live::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Users(a) => users::run(a),
        Command::Store(a) => store::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// `name=value` pairs of `--set`.
pub(crate) fn parse_set(text: &str) -> Result<(String, f64), Error> {
    let (k, v) = text.split_once('=').ok_or_else(|| {
        Error::input(
            "<command line>",
            "--set",
            "ADDRESS=VALUE, e.g. model.mu_max=0.035",
            format!("`{text}`"),
        )
    })?;
    let v: f64 = v.trim().parse().map_err(|_| {
        Error::input(
            "<command line>",
            format!("--set {k}"),
            "a number",
            format!("`{v}`"),
        )
    })?;
    Ok((k.trim().to_string(), v))
}

/// Writes to stdout; a closed pipe ends the program with success, as the
/// reader asked for no more.
pub(crate) fn write_stdout(s: &str, newline: bool) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let r = o
        .write_all(s.as_bytes())
        .and_then(|_| if newline { o.write_all(b"\n") } else { Ok(()) })
        .and_then(|_| o.flush());
    if r.is_err() {
        std::process::exit(0);
    }
}

/// Loads a process file; its `model = "registry:NAME"` (NAME's promoted
/// version, or a registered id) is looked up in `registry`, the registry
/// verified and the sealed text's hash checked (a tampered model exits 2),
/// and recorded as the process's model input. A registry's failure keeps
/// its `biotwin_ml::Error` variant (and source) up to the command line.
pub fn load_process_in(
    path: &std::path::Path,
    registry: &std::path::Path,
) -> Result<crate::definition::process::ProcessDefinition, biotwin_ml::Error> {
    match crate::definition::process::registry_model_of(path) {
        Some(reference) => {
            // The reference came from the process file, not the command
            // line: problems with it name the file and `process.model`.
            let resolved =
                crate::registry::mechanistic::resolve_registered(&reference, registry, false)
                    .map_err(|e| from_process_model(e, path, registry))?;
            let mut def = crate::simulation::load_process_with_model(path, &resolved.model)?;
            crate::simulation::model_source::with_model(&mut def, &resolved)?;
            Ok(def)
        }
        None => Ok(crate::simulation::load_process(path)?),
    }
}

/// A registry problem with a process file's `model = "registry:NAME"`,
/// restated on that file's `process.model` (with its line): the reference
/// came from the file, not from `--model` on the command line.
fn from_process_model(
    e: biotwin_ml::Error,
    path: &std::path::Path,
    registry: &std::path::Path,
) -> biotwin_ml::Error {
    use biotwin_ml::Error as Ml;
    // Every input problem of the registry's (a name it does not have, a
    // model not promoted, the command line's) is restated alike; its
    // variant is kept.
    let restate = |d: crate::error::Diagnostics| restated_on_process_model(d, path, registry);
    match e {
        Ml::NotFound(d) => Ml::NotFound(restate(d)),
        Ml::Tampered(d) => Ml::Tampered(restate(d)),
        Ml::Artifact(d) => Ml::Artifact(restate(d)),
        Ml::Dataset(d) => Ml::Dataset(restate(d)),
        Ml::Core(Error::Input(d)) => Ml::Core(Error::Input(restate(d))),
        other => other,
    }
}

/// The diagnostics `d` of a registry reference, each naming the command
/// line or `--model`, restated on `path`'s `process.model`.
fn restated_on_process_model(
    d: crate::error::Diagnostics,
    path: &std::path::Path,
    registry: &std::path::Path,
) -> crate::error::Diagnostics {
    let src = crate::definition::source::SourceFile::read(path).ok();
    let cli = std::path::Path::new("<command line>");
    crate::error::Diagnostics(
        d.0.into_iter()
            .map(|x| {
                if x.file != cli && x.field != "--model" {
                    return x;
                }
                let found = if x.file == cli {
                    x.found
                } else {
                    format!("{} (in {})", x.found, x.file.display())
                };
                let expected = format!(
                    "`registry:NAME` naming a model in the registry `{}`: {}",
                    registry.display(),
                    x.expected
                );
                match &src {
                    Some(s) => s.diag("process.model", expected, found),
                    None => crate::error::Diagnostic::new(path, "process.model", expected, found),
                }
            })
            .collect(),
    )
}

/// Resolves `--model REFERENCE` for a study: a model file, or a calibrated
/// model's name (its promoted version) or id in the registry `registry`
/// (`registry::mechanistic::resolve_reference`, which also checks its stored
/// discrepancy); a registry's failure keeps its `biotwin_ml::Error` variant.
pub fn resolve_model_ref(
    reference: &str,
    registry: &std::path::Path,
) -> Result<crate::simulation::model_source::ResolvedModel, biotwin_ml::Error> {
    crate::registry::mechanistic::resolve_reference(reference, registry, false)
}

/// A stored recipe discrepancy must be well formed
/// (`registry::mechanistic::check_discrepancy`, which every model
/// reference passes; here for a process's own model file).
pub fn check_discrepancy(
    stored: Option<&toml::Value>,
    model_file: &std::path::Path,
) -> Result<(), biotwin_ml::Error> {
    crate::registry::mechanistic::check_discrepancy(stored, model_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotwin_ml::Error as Ml;

    /// A registry's refusal of a process file's `model = "registry:NAME"`
    /// keeps its ML variant (`NotFound`, exit 2) while its diagnostic is
    /// restated on the file's `process.model`.
    #[test]
    fn a_process_models_registry_failure_keeps_its_ml_variant() {
        let not_found = Ml::not_found(crate::error::Diagnostic::new(
            "reg/registry.jsonl",
            "--model",
            "a registered model id",
            "`cho-x`",
        ));
        let path = std::path::Path::new("no-such-dir/p.toml");
        let e = from_process_model(not_found, path, std::path::Path::new("reg"));
        assert_eq!(e.exit_code(), 2);
        let Ml::NotFound(d) = &e else {
            panic!("the variant was lost: {e:?}")
        };
        assert_eq!(d.0[0].field, "process.model");
        assert_eq!(d.0[0].file, path);
        assert_eq!(
            d.0[0].expected,
            "`registry:NAME` naming a model in the registry `reg`: a registered model id"
        );
        assert_eq!(d.0[0].found, "`cho-x` (in reg/registry.jsonl)");
    }

    /// With no registry at all the refusal is the command line's input
    /// problem (the core's `Input` inside `biotwin_ml::Error::Core`),
    /// restated on the process file; a failure that is not an input
    /// problem passes through unchanged.
    #[test]
    fn a_process_model_without_a_registry_is_restated_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.toml");
        std::fs::write(&p, "[process]\nmodel = \"registry:cho-x\"\n").unwrap();
        let e = load_process_in(&p, &dir.path().join("reg")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let Ml::Core(Error::Input(d)) = &e else {
            panic!("expected the core's input problem: {e:?}")
        };
        assert_eq!(d.0[0].field, "process.model");
        assert_eq!(d.0[0].line, Some(2));

        let failed = Ml::estimation("the fit", "singular");
        let e = from_process_model(failed, &p, dir.path());
        assert!(matches!(e, Ml::Estimation { .. }));
        assert_eq!(e.to_string(), "the fit failed: singular");
    }
}
