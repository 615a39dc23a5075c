//! The hyper-parameters of `biotwin train --model elastic-net|svr|random-forest`
//! (docs/surrogates.md, "linfa models and the random forest"): flags, their
//! defaults, and their validation (exit 2 naming the flag, what was expected
//! and what was found).

use crate::surrogates::SurrogateError;
use crate::surrogates::forest::ForestParams;
use crate::surrogates::linfa_models::{ElasticNetParams, SvrKernel, SvrParams};
use crate::surrogates::train::ModelChoice;
use biotwin_ml::Error;

/// The kernel of `--model svr`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum SvrKernelKind {
    /// exp(−‖x − x'‖²/γ) on standardised features (γ: --kernel-width).
    Gaussian,
    /// ⟨x, x'⟩: a linear ε-SVR.
    Linear,
}

/// Flags of the elastic net, the SVR and the random forest.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LinfaArgs {
    /// Elastic net only: overall penalty α ≥ 0 on standardised data
    /// (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub penalty: Option<f64>,
    /// Elastic net only: lasso share ρ of the penalty, in [0, 1]
    /// (default 0.5; 1 lasso, 0 ridge).
    #[arg(long, allow_negative_numbers = true)]
    pub l1_ratio: Option<f64>,
    /// SVR only: weight C > 0 of the ε-insensitive loss (default 1).
    #[arg(long = "c", allow_negative_numbers = true)]
    pub c: Option<f64>,
    /// SVR only: half-width ε ≥ 0 of the insensitive tube, in target
    /// standard deviations (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub epsilon: Option<f64>,
    /// SVR only: gaussian (default) or linear kernel.
    #[arg(long, value_enum)]
    pub svr_kernel: Option<SvrKernelKind>,
    /// SVR only, Gaussian kernel: width γ > 0 in exp(−‖x − x'‖²/γ) on
    /// standardised features (default: the number of features).
    #[arg(long, allow_negative_numbers = true)]
    pub kernel_width: Option<f64>,
    /// Random forest only: number of trees (default 100).
    #[arg(long)]
    pub trees: Option<usize>,
    /// Random forest only: largest tree depth (default: none).
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Random forest only: fewest training batches in a leaf (default 1).
    #[arg(long)]
    pub min_samples_leaf: Option<usize>,
    /// Random forest only: share of the features tried at each split, in
    /// (0, 1] (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub max_features: Option<f64>,
    /// Random forest only: seed of the bootstrap and feature draws
    /// (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Which of the three models a `--model` value is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinfaKind {
    ElasticNet,
    Svr,
    RandomForest,
}

impl LinfaArgs {
    /// The flags given, each with the model it belongs to.
    fn given(&self) -> Vec<(&'static str, LinfaKind)> {
        use LinfaKind::*;
        let mut v = Vec::new();
        let mut add = |given: bool, flag, kind| {
            if given {
                v.push((flag, kind));
            }
        };
        add(self.penalty.is_some(), "--penalty", ElasticNet);
        add(self.l1_ratio.is_some(), "--l1-ratio", ElasticNet);
        add(self.c.is_some(), "--c", Svr);
        add(self.epsilon.is_some(), "--epsilon", Svr);
        add(self.svr_kernel.is_some(), "--svr-kernel", Svr);
        add(self.kernel_width.is_some(), "--kernel-width", Svr);
        add(self.trees.is_some(), "--trees", RandomForest);
        add(self.max_depth.is_some(), "--max-depth", RandomForest);
        add(
            self.min_samples_leaf.is_some(),
            "--min-samples-leaf",
            RandomForest,
        );
        add(self.max_features.is_some(), "--max-features", RandomForest);
        add(self.seed.is_some(), "--seed", RandomForest);
        v
    }

    /// Refuses a flag of one of these models given with another `--model`
    /// (`model`: `None` for PLS, GP, NN and the hybrids; `shown` its name).
    pub fn check_applies(&self, model: Option<LinfaKind>, shown: &str) -> Result<(), Error> {
        for (flag, kind) in self.given() {
            if Some(kind) != model {
                let owner = match kind {
                    LinfaKind::ElasticNet => "elastic-net",
                    LinfaKind::Svr => "svr",
                    LinfaKind::RandomForest => "random-forest",
                };
                return Err(Error::input(
                    "<command line>",
                    flag,
                    format!("--model {owner} (a hyper-parameter of that model)"),
                    format!("--model {shown}"),
                ));
            }
        }
        if self.kernel_width.is_some() && self.svr_kernel == Some(SvrKernelKind::Linear) {
            return Err(Error::input(
                "<command line>",
                "--kernel-width",
                "--svr-kernel gaussian (a linear kernel has no width)",
                "--svr-kernel linear",
            ));
        }
        Ok(())
    }

    /// The model's hyper-parameters from the flags and defaults, validated.
    pub fn choice(&self, kind: LinfaKind) -> Result<ModelChoice, Error> {
        Ok(match kind {
            LinfaKind::ElasticNet => {
                let d = ElasticNetParams::default();
                let p = ElasticNetParams {
                    penalty: self.penalty.unwrap_or(d.penalty),
                    l1_ratio: self.l1_ratio.unwrap_or(d.l1_ratio),
                    ..d
                };
                p.check().map_err(flag_error)?;
                ModelChoice::ElasticNet(p)
            }
            LinfaKind::Svr => {
                let d = SvrParams::default();
                let kernel = match self.svr_kernel.unwrap_or(SvrKernelKind::Gaussian) {
                    SvrKernelKind::Gaussian => SvrKernel::Gaussian {
                        width: self.kernel_width,
                    },
                    SvrKernelKind::Linear => SvrKernel::Linear,
                };
                let p = SvrParams {
                    c: self.c.unwrap_or(d.c),
                    epsilon: self.epsilon.unwrap_or(d.epsilon),
                    kernel,
                    ..d
                };
                p.check().map_err(flag_error)?;
                ModelChoice::Svr(p)
            }
            LinfaKind::RandomForest => {
                let d = ForestParams::default();
                let p = ForestParams {
                    n_trees: self.trees.unwrap_or(d.n_trees),
                    max_depth: self.max_depth.or(d.max_depth),
                    min_samples_leaf: self.min_samples_leaf.unwrap_or(d.min_samples_leaf),
                    max_features: self.max_features.unwrap_or(d.max_features),
                    seed: self.seed.unwrap_or(d.seed),
                };
                p.check().map_err(flag_error)?;
                ModelChoice::RandomForest(p)
            }
        })
    }
}

/// A refused hyper-parameter as a command-line error naming its flag.
fn flag_error(e: SurrogateError) -> Error {
    match e {
        SurrogateError::Shape {
            what,
            expected,
            found,
        } => {
            let flag = match what.as_str() {
                "n_trees" => "--trees".to_string(),
                other => format!("--{}", other.replace('_', "-")),
            };
            Error::input("<command line>", flag, expected, found)
        }
        other => other.into(),
    }
}
