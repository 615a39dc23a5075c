//! `report.md`: the human-readable transfer report, summary first, and the
//! warnings it calls out (pCO₂ accumulation, limits, shifted quality).

use std::fmt::Write as _;

use biotwin_core::montecarlo::Summary;
use biotwin_core::output::format_sig;
use biotwin_core::scaleup::render_table;

use biotwin_core::simulation::feasibility::{Warning, WarningKind};

use super::adjust::Decision;
use super::study::{ArmStudy, PEAK_PCO2};
use super::{PCO2_WARNING_MMHG, TransferStudy};

fn pct(p: f64) -> String {
    format!("{:.1} %", 100.0 * p)
}

fn opt_pct(p: Option<f64>) -> String {
    p.map_or_else(|| "—".into(), pct)
}

/// Scale-up flags the trajectory-wide feasibility check supersedes (it
/// evaluates the same quantities at every recorded time, not only at the
/// initial volume), so they are not counted twice. The need for O₂
/// enrichment at the set-points (`otr_air_mmol_per_l_h`) is not a warning:
/// the model enriches the sparge as a plant does; a real shortfall shows as
/// dissolved O₂ below its set-point or an O₂ capacity below the demand
/// (feasibility kinds `o2_supply`, `o2_capacity`).
const FLAGS_COVERED_BY_FEASIBILITY: [&str; 8] = [
    "otr_air_mmol_per_l_h",
    "volume_l",
    "agitation_rpm",
    "tip_speed_m_per_s",
    "sparge_gas_slpm",
    "gassed_p_per_v_w_per_m3",
    "superficial_gas_velocity_m_per_s",
    "kolmogorov_length_um",
];

/// Warnings of a study, most important first.
pub fn warnings(study: &TransferStudy) -> Vec<Warning> {
    let mut w = Vec::new();
    let t = &study.translation;
    let src_pco2 = study.source.nominal_of(PEAK_PCO2).unwrap_or(f64::NAN);
    let tgt_pco2 = study.target.nominal_of(PEAK_PCO2).unwrap_or(f64::NAN);
    let vvm = t.sparge_slpm / t.criterion_volume_l;
    let src_vvm = t.report.source_conditions.vvm_per_min;
    let number = |kind, metric: &str, value: f64, limit: f64, message: String| Warning {
        kind,
        metric: metric.to_string(),
        value: Some(value),
        limit: Some(limit),
        time_h: None,
        message,
    };
    if tgt_pco2 > PCO2_WARNING_MMHG && tgt_pco2 > 1.2 * src_pco2 {
        let p95 = study
            .target
            .summary_of(PEAK_PCO2)
            .map_or(f64::NAN, |s| s.p95);
        w.push(number(WarningKind::Pco2, PEAK_PCO2, tgt_pco2, PCO2_WARNING_MMHG, format!(
            "pCO2 ACCUMULATION: the target's peak pCO2 is {} mmHg (95th percentile {} mmHg) against {} mmHg on the source. \
             The target sparges {} vvm ({} SLPM) against {} vvm on the source: at low vvm the gas stream cannot carry away \
             the CO2 the culture produces (the gas-flow-limited term of docs/scale-up.md grows as vvm falls), and the taller liquid column raises CO2 solubility. Above {PCO2_WARNING_MMHG} mmHg \
             CO2 inhibits growth and productivity and base addition raises osmolality (predicted end osmolality {} vs {} mOsm/kg). \
             P(peak pCO2 <= {} mmHg) = {}. Raise the sparge gas flow (see the recommended set-points) or use a sparger with more CO2 stripping.",
            format_sig(tgt_pco2),
            format_sig(p95),
            format_sig(src_pco2),
            format_sig(vvm),
            format_sig(t.sparge_slpm),
            format_sig(src_vvm),
            format_sig(study.target.nominal_of("osmolality_mosm_per_kg").unwrap_or(f64::NAN)),
            format_sig(study.source.nominal_of("osmolality_mosm_per_kg").unwrap_or(f64::NAN)),
            format_sig(study.target.pco2_limit_mmhg),
            pct(study.target.prob_peak_pco2_within_limit),
        )));
    } else if tgt_pco2 > PCO2_WARNING_MMHG {
        w.push(number(WarningKind::Pco2, PEAK_PCO2, tgt_pco2, PCO2_WARNING_MMHG, format!(
            "pCO2 is high on both vessels: peak {} mmHg on the target, {} mmHg on the source (inhibition from about {PCO2_WARNING_MMHG} mmHg).",
            format_sig(tgt_pco2),
            format_sig(src_pco2)
        )));
    }
    // Feasibility of the translated batch over its whole trajectory.
    for f in &study.target_feasibility.warnings {
        w.push(Warning {
            message: format!("target (translated): {}", f.message),
            ..f.clone()
        });
    }
    if let Some(r) = t.report.for_criterion(t.criterion) {
        for f in &r.conditions.flags {
            if FLAGS_COVERED_BY_FEASIBILITY.contains(&f.quantity) {
                continue;
            }
            w.push(Warning::note(
                WarningKind::ScaleUp,
                f.quantity,
                format!(
                    "scale-up ({}) on {}: {}",
                    t.criterion,
                    t.target.id(),
                    f.message
                ),
            ));
        }
    }
    for m in &study.adjustment.metrics {
        if !m.translated_within {
            w.push(number(
                WarningKind::Tolerance,
                &m.metric,
                m.translated,
                m.reference,
                format!(
                    "{} moves {:+.1} % on the target ({}, tolerance {} %)",
                    m.metric,
                    m.translated_deviation_pct,
                    m.side.describe(),
                    m.tolerance_pct
                ),
            ));
        }
    }
    if let (Some(ps), Some(pt)) = (study.source.prob_all_in_spec, study.target.prob_all_in_spec)
        && pt < ps - 0.02
    {
        w.push(number(
            WarningKind::Specification,
            "prob_all_in_spec",
            pt,
            ps,
            format!(
                "probability of meeting every specification falls from {} (source) to {} (target)",
                pct(ps),
                pct(pt)
            ),
        ));
    }
    for why in &study.sensitivity.left_out {
        w.push(Warning::note(
            WarningKind::Sensitivity,
            "sensitivity",
            why.clone(),
        ));
    }
    let adj = &study.adjustment;
    if adj.decision == Decision::Change && !adj.all_within_tolerance {
        let out: Vec<&str> = adj
            .metrics
            .iter()
            .filter(|m| !m.adjusted_within)
            .map(|m| m.metric.as_str())
            .collect();
        w.push(Warning::note(
            WarningKind::Adjustment,
            "adjustment",
            format!(
                "the adjustment could not bring every metric within tolerance within the equipment limits: {} remain outside",
                out.join(", ")
            ),
        ));
    }
    if adj.decision == Decision::NoChangeFallback {
        w.push(Warning::note(
            WarningKind::Adjustment,
            "adjustment",
            format!(
                "no set-point change is recommended although metrics are outside tolerance: {}",
                adj.reason
            ),
        ));
    }
    // The adjusted batch's own feasibility, where it differs from the
    // translated one's (unchanged set-points give the same warnings).
    if adj.decision == Decision::Change {
        for f in &study.adjusted_feasibility.warnings {
            w.push(Warning {
                message: format!("target (adjusted): {}", f.message),
                ..f.clone()
            });
        }
    }
    for (label, arm) in [
        ("source", &study.source),
        ("target", &study.target),
        ("adjusted", &study.adjusted),
    ] {
        if arm.failed > 0 {
            w.push(Warning {
                kind: WarningKind::MonteCarlo,
                metric: format!("{label}.failed_runs"),
                value: Some(arm.failed as f64),
                limit: Some(0.0),
                time_h: None,
                message: format!(
                    "{label}: {} of {} Monte Carlo runs failed (first: {})",
                    arm.failed,
                    arm.runs,
                    arm.first_failure.as_deref().unwrap_or("")
                ),
            });
        }
    }
    w
}

fn band(s: Option<&Summary>) -> String {
    match s {
        Some(s) => format!(
            "{} [{}–{}]",
            format_sig(s.mean),
            format_sig(s.p05),
            format_sig(s.p95)
        ),
        None => "—".into(),
    }
}

fn p_in(s: Option<&Summary>) -> String {
    s.and_then(|s| s.prob_in_spec)
        .map_or_else(|| "—".into(), pct)
}

/// The Markdown report.
pub fn markdown(study: &TransferStudy) -> String {
    let mut s = String::new();
    let t = &study.translation;
    let def = &study.source_def;
    let o = &study.options;
    let titer = |a: &ArmStudy| a.nominal_of("titer_g_per_l").unwrap_or(f64::NAN);
    let pco2 = |a: &ArmStudy| a.nominal_of(PEAK_PCO2).unwrap_or(f64::NAN);
    let _ = writeln!(
        s,
        "# Virtual technology transfer: {} → {}\n",
        def.name,
        t.target.name()
    );
    let _ = writeln!(s, "## Summary\n");
    let _ = writeln!(
        s,
        "- **Verdict**: {} Per attribute, with margins: `report.html`.",
        super::html::verdict_sentence(study).1
    );
    let _ = writeln!(
        s,
        "- **Transfer**: `{}` on `{}` ({} L) → `{}` ({} L), criterion **{}**{}.",
        def.id,
        t.source.id(),
        format_sig(t.report.source.volume_l),
        t.target.id(),
        format_sig(t.criterion_volume_l),
        t.criterion,
        if o.agitation_rpm.is_some() || o.sparge_slpm.is_some() {
            " with explicit target set-points"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "- **Translated set-points**: agitation {} rpm, sparge {} SLPM ({} vvm); source {} rpm, {} SLPM ({} vvm).",
        format_sig(t.agitation_rpm),
        format_sig(t.sparge_slpm),
        format_sig(t.sparge_slpm / t.criterion_volume_l),
        format_sig(t.report.source_conditions.agitation_rpm),
        format_sig(t.report.source_conditions.sparge_gas_slpm),
        format_sig(t.report.source_conditions.vvm_per_min),
    );
    let _ = writeln!(
        s,
        "- **Predicted (nominal)**: titer {} g/L on the source, {} g/L on the target, {} g/L adjusted; peak pCO2 {} / {} / {} mmHg.",
        format_sig(titer(&study.source)),
        format_sig(titer(&study.target)),
        format_sig(titer(&study.adjusted)),
        format_sig(pco2(&study.source)),
        format_sig(pco2(&study.target)),
        format_sig(pco2(&study.adjusted)),
    );
    let _ = writeln!(
        s,
        "- **P(all specifications met)** ({} Monte Carlo runs each): source {}, target {}, adjusted {}.",
        o.runs,
        opt_pct(study.source.prob_all_in_spec),
        opt_pct(study.target.prob_all_in_spec),
        opt_pct(study.adjusted.prob_all_in_spec),
    );
    let _ = writeln!(
        s,
        "- **P(comparable to the source)** (every toleranced metric within its tolerance of the source's nominal value): source {}, target {}, adjusted {}.",
        opt_pct(study.source.prob_comparable_to_source),
        opt_pct(study.target.prob_comparable_to_source),
        opt_pct(study.adjusted.prob_comparable_to_source),
    );
    let adj = &study.adjustment;
    let n_in_t = adj.metrics.iter().filter(|m| m.translated_within).count();
    let n_in_a = adj.metrics.iter().filter(|m| m.adjusted_within).count();
    let recommendation = match adj.decision {
        Decision::Change => format!(
            "**change** to {}",
            adj.set_points
                .iter()
                .filter(|r| r.recommended != r.translated)
                .map(|r| format!(
                    "{} {} → {}",
                    r.name,
                    format_sig(r.translated),
                    format_sig(r.recommended)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Decision::NoChange | Decision::NoChangeFallback => "**no change**".to_string(),
    };
    let _ = writeln!(
        s,
        "- **Adjustment**: {} of {} metrics within tolerance of the source as translated, {} of {} with the recommendation: {} ({}).",
        n_in_t,
        adj.metrics.len(),
        n_in_a,
        adj.metrics.len(),
        recommendation,
        adj.reason
    );
    let top = super::sensitivity::ranking(&study.sensitivity, "titer_g_per_l");
    if let Some((f, _, st, lo, hi)) = top.first() {
        // An index estimate is only as good as its interval: at small N it
        // can leave [0, 1] (ST = 1.02 is sampling error, not a share of
        // variance above one), so the interval is printed with it.
        let _ = writeln!(
            s,
            "- **Most influential on titer** (Sobol' total index): `{f}` (ST = {:.2}, 95 % interval {:.2} to {:.2}{}).",
            st,
            lo,
            hi,
            if *st > 1.0 || *st < 0.0 || hi - lo > 0.5 {
                "; a wide interval: increase --sobol-base for a firmer ranking"
            } else {
                ""
            }
        );
    }
    if let Some(l) = &study.lots {
        let _ = writeln!(
            s,
            "- **Lot {}**: P(all specifications met) {} with current lots, {} with the lot; P(comparable to the source) {} vs {}.",
            l.id,
            opt_pct(l.current.prob_all_in_spec),
            opt_pct(l.alternative.prob_all_in_spec),
            opt_pct(l.current.prob_comparable_to_source),
            opt_pct(l.alternative.prob_comparable_to_source),
        );
    }
    let _ = writeln!(s, "- **Warnings**: {}.\n", study.warnings.len());

    let _ = writeln!(s, "## Warnings\n");
    if study.warnings.is_empty() {
        let _ = writeln!(s, "None.\n");
    }
    for w in &study.warnings {
        let _ = writeln!(s, "- [{}] {}", w.kind.name(), w.message);
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "## Scale-up\n");
    let _ = writeln!(
        s,
        "Every criterion side by side (equations: docs/scale-up.md); the study uses **{}**{}.\n",
        t.criterion,
        match (o.agitation_rpm, o.sparge_slpm) {
            (None, None) => String::new(),
            (a, g) => format!(
                " with {}{}",
                a.map_or(String::new(), |a| format!(
                    "agitation {} rpm ",
                    format_sig(a)
                )),
                g.map_or(String::new(), |g| format!("sparge {} SLPM", format_sig(g)))
            ),
        }
    );
    let _ = writeln!(s, "```text\n{}```\n", render_table(&t.report));

    let _ = writeln!(s, "## Predicted end-of-batch quality\n");
    let _ = writeln!(
        s,
        "Mean [5th–95th percentile] over {} Monte Carlo runs of the declared uncertainty (same draws for every column); \
         P = probability within specification.\n",
        o.runs
    );
    let _ = writeln!(
        s,
        "| metric | specification | source | P | target (translated) | P | target (adjusted) | P |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for sm in &study.source.summary {
        let n = sm.name.as_str();
        let spec = sm.spec.clone().unwrap_or_else(|| {
            if n == PEAK_PCO2 {
                format!(
                    "≤ {} (inhibition)",
                    format_sig(study.source.pco2_limit_mmhg)
                )
            } else {
                "—".into()
            }
        });
        let p = |a: &ArmStudy| {
            if n == PEAK_PCO2 {
                pct(a.prob_peak_pco2_within_limit)
            } else {
                p_in(a.summary_of(n))
            }
        };
        let _ = writeln!(
            s,
            "| {n} | {spec} | {} | {} | {} | {} | {} | {} |",
            band(Some(sm)),
            p(&study.source),
            band(study.target.summary_of(n)),
            p(&study.target),
            band(study.adjusted.summary_of(n)),
            p(&study.adjusted),
        );
    }
    let _ = writeln!(
        s,
        "| **all specifications** | | | {} | | {} | | {} |",
        opt_pct(study.source.prob_all_in_spec),
        opt_pct(study.target.prob_all_in_spec),
        opt_pct(study.adjusted.prob_all_in_spec)
    );
    let _ = writeln!(
        s,
        "| **comparable to source** (all tolerances) | | | {} | | {} | | {} |\n",
        opt_pct(study.source.prob_comparable_to_source),
        opt_pct(study.target.prob_comparable_to_source),
        opt_pct(study.adjusted.prob_comparable_to_source)
    );
    landmarks(&mut s, study);
    let _ = writeln!(
        s,
        "![trajectories](trajectories.svg)\n\n`trajectories.svg`: nominal trajectories with 5–95 % envelopes (from the first Monte Carlo runs) of viable cells, titer, pCO2, DO, osmolality and galactosylation.\n"
    );

    let sens = &study.sensitivity;
    let _ = writeln!(s, "## Sensitivity on the target\n");
    let _ = writeln!(
        s,
        "Sobol' first-order (S1) and total (ST) indices from a Saltelli design with N = {} base samples ({} runs), {:.0} % bootstrap intervals; \
         Morris screening with {} trajectories ({} runs). Estimators: docs/sensitivity.md. Factors (uniform ranges):\n",
        sens.sobol.base_samples,
        sens.sobol.model_runs,
        100.0 * sens.sobol.confidence_level,
        sens.morris.trajectories,
        sens.morris.model_runs
    );
    let _ = writeln!(s, "| factor | translated | range | basis |");
    let _ = writeln!(s, "|---|---|---|---|");
    for f in &sens.factors {
        let _ = writeln!(
            s,
            "| `{}` | {} | {}–{} | {} |",
            f.name,
            format_sig(f.nominal),
            format_sig(f.low),
            format_sig(f.high),
            f.basis
        );
    }
    let _ = writeln!(s);
    for m in super::plots::SOBOL_PLOT_METRICS {
        let r = super::sensitivity::ranking(sens, m);
        if r.is_empty() {
            continue;
        }
        let morris = sens.morris.output(m);
        let _ = writeln!(s, "**{m}**\n");
        let _ = writeln!(s, "| rank | factor | S1 | ST [95 % CI] | Morris μ* |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for (i, (f, s1, st, lo, hi)) in r.iter().enumerate() {
            let mu = morris
                .and_then(|o| o.factor(f))
                .map_or_else(|| "—".into(), |x| format_sig(x.mu_star.value));
            let _ = writeln!(
                s,
                "| {} | `{f}` | {:.3} | {:.3} [{:.3}, {:.3}] | {mu} |",
                i + 1,
                s1,
                st,
                lo,
                hi
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "![Sobol indices](sobol.svg)\n\n`sobol.svg`: S1 (filled) and ST (outlined) per factor with bootstrap intervals. \
         ST − S1 is the share of variance from interactions.\n"
    );

    let _ = writeln!(s, "## Recommended set-points\n");
    let verdict = match adj.decision {
        Decision::Change => "**Recommendation: change the set-points below.**",
        Decision::NoChange => "**Recommendation: no change.**",
        Decision::NoChangeFallback => "**Recommendation: no change (fallback).**",
    };
    let _ = writeln!(s, "{verdict} {}.\n", adj.reason);
    let _ = writeln!(
        s,
        "Objective J = mean over the metrics below of one-sided terms: for a floor (titer, viability) only a shortfall below the source counts, \
         for a ceiling (peak pCO2, HMW, HCP) only an excess, for the others both sides (equivalence margin ± tolerance); each term is \
         ((target − source)/(tolerance × source))². When every metric is within tolerance as translated the optimiser is not run. \
         Otherwise bounded Nelder–Mead ({} starts, {} evaluations{}) minimises J within the equipment's limits, with every engineering \
         quantity of the feasibility check kept within its limit or no worse than as translated, plus a small penalty (λ = {}) on moving \
         away from the translated set-points; a point worse than the translated one on any metric or quantity is not recommended. \
         J = {} as translated, {} recommended.\n",
        adj.optimiser.starts,
        adj.evaluations,
        if adj.evaluations == 0 {
            ": not run"
        } else if adj.converged {
            ", converged"
        } else {
            ", not converged"
        },
        super::adjust::MOVE_PENALTY,
        format_sig(adj.objective_translated),
        format_sig(adj.objective_adjusted)
    );
    let _ = writeln!(
        s,
        "| set-point | translated | recommended | allowed range |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for r in &adj.set_points {
        let _ = writeln!(
            s,
            "| `{}` | {} | **{}** | {}–{} |",
            r.name,
            format_sig(r.translated),
            format_sig(r.recommended),
            format_sig(r.low),
            format_sig(r.high)
        );
    }
    let _ = writeln!(
        s,
        "\n| metric | side | source | target (translated) | target (recommended) | tolerance | within (translated → recommended) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let yes = |b: bool| if b { "yes" } else { "**no**" };
    for m in &adj.metrics {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ({:+.1} %) | {} ({:+.1} %) | {} % | {} → {} |",
            m.metric,
            m.side.describe(),
            format_sig(m.reference),
            format_sig(m.translated),
            m.translated_deviation_pct,
            format_sig(m.adjusted),
            m.adjusted_deviation_pct,
            m.tolerance_pct,
            yes(m.translated_within),
            yes(m.adjusted_within)
        );
    }
    let _ = writeln!(
        s,
        "\nEngineering quantities over the whole batch (worst value), as translated and at the recommendation (docs/transfer.md \"Feasibility\"):\n"
    );
    let _ = writeln!(
        s,
        "| quantity | limit | translated | recommended | acceptable |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for c in &adj.constraints {
        let limit = match c.limit {
            Some(l) => format!("{} {}", if c.ceiling { "≤" } else { "≥" }, format_sig(l)),
            None => format!(
                "none ({} is worse; at most {} % worse)",
                if c.ceiling { "higher" } else { "lower" },
                100.0 * biotwin_core::simulation::feasibility::REFERENCE_SLACK
            ),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            c.name,
            limit,
            format_sig(c.translated),
            format_sig(c.recommended),
            yes(c.acceptable)
        );
    }
    let _ = writeln!(
        s,
        "\nThe receiving site can run `{}` (translated) or `{}` (with the recommended set-points) directly.\n",
        super::TRANSLATED_PROCESS,
        super::ADJUSTED_PROCESS
    );

    let _ = writeln!(s, "## Raw-material lots\n");
    match &study.lots {
        None => {
            let _ = writeln!(
                s,
                "No alternative lot file given (`--lots FILE`); the target uses the process file's declared raw-material uncertainty.\n"
            );
        }
        Some(l) => {
            let _ = writeln!(
                s,
                "Lot `{}` ({}): {}. Distributions replaced: {}. Both columns use the translated target and the same random draws.\n",
                l.id,
                if l.supplier.is_empty() {
                    "supplier not stated"
                } else {
                    &l.supplier
                },
                l.description,
                l.addresses
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(s, "| metric | current lots | P | lot {} | P |", l.id);
            let _ = writeln!(s, "|---|---|---|---|---|");
            for sm in &l.current.summary {
                let n = sm.name.as_str();
                let _ = writeln!(
                    s,
                    "| {n} | {} | {} | {} | {} |",
                    band(Some(sm)),
                    p_in(Some(sm)),
                    band(l.alternative.summary_of(n)),
                    p_in(l.alternative.summary_of(n)),
                );
            }
            let _ = writeln!(
                s,
                "| **all specifications** | | {} | | {} |",
                opt_pct(l.current.prob_all_in_spec),
                opt_pct(l.alternative.prob_all_in_spec)
            );
            let _ = writeln!(
                s,
                "| **comparable to source** (all tolerances) | | {} | | {} |\n",
                opt_pct(l.current.prob_comparable_to_source),
                opt_pct(l.alternative.prob_comparable_to_source)
            );
        }
    }

    let _ = writeln!(s, "## Record\n");
    let _ = writeln!(
        s,
        "- biotwin {}, model `{}` ({} v{}), seed {}, {} Monte Carlo runs per arm, Sobol' N = {}.",
        env!("CARGO_PKG_VERSION"),
        def.model.id,
        def.model.family,
        def.model.version,
        o.seed,
        o.runs,
        o.sobol_base
    );
    if let Some(m) = &o.model {
        let _ = writeln!(
            s,
            "- model given with --model: `{}` (sha256 `{}`), copied to `{}`.",
            m.provenance.source,
            m.provenance.sha256,
            super::MODEL_FILE
        );
    }
    if let Some(c) = &def.model.calibration {
        let _ = writeln!(
            s,
            "- calibrated model: fitted to `{}` (dataset sha256 `{}`, batches {}) on {}; {}.",
            c.dataset,
            c.dataset_sha256,
            c.batches.join(", "),
            c.created_utc,
            match &c.covariance {
                Some(v) => format!(
                    "{} drawn jointly from the fit's covariance in every Monte Carlo arm (superseding declared spreads on them) and varied over their marginal 95 % intervals in the Sobol' study",
                    v.names.join(", ")
                ),
                None => "no covariance: fitted values fixed".into(),
            }
        );
    }
    for i in &def.inputs {
        let _ = writeln!(
            s,
            "- {}: `{}` sha256 `{}`",
            i.role,
            i.path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            i.sha256
        );
    }
    let _ = writeln!(
        s,
        "- target equipment: `{}`; translated process sha256 `{}`; adjusted process sha256 `{}`.",
        t.target.id(),
        study.translated_sha256,
        study.adjusted_sha256
    );
    let _ = writeln!(
        s,
        "\nMachine-readable package: `transfer.json` (schema `{}`, docs/transfer.md).",
        super::package::SCHEMA
    );
    s
}

/// Trajectory landmarks of the nominal runs (with the 5–95 % envelope at
/// the same time point): where the batches differ during the culture.
fn landmarks(s: &mut String, study: &TransferStudy) {
    let arms: [(&str, &ArmStudy); 3] = [
        ("source", &study.source),
        ("target (translated)", &study.target),
        ("target (adjusted)", &study.adjusted),
    ];
    let rows: [(&str, &str, bool); 5] = [
        ("peak viable cells [1e6/mL]", "xv_1e6_cells_per_ml", true),
        ("peak pCO2 [mmHg]", "pco2_mmhg", true),
        ("lowest DO [% air sat.]", "do_pct", false),
        (
            "highest osmolality [mOsm/kg]",
            "osmolality_mosm_per_kg",
            true,
        ),
        ("final titer [g/L]", "titer_g_per_l", true),
    ];
    let _ = writeln!(
        s,
        "Trajectory landmarks (nominal run, value [5–95 % envelope at that time] @ time):\n"
    );
    let _ = writeln!(s, "| landmark | {} |", arms.map(|a| a.0).join(" | "));
    let _ = writeln!(s, "|---|---|---|---|");
    for (label, col, max) in rows {
        let cells: Vec<String> = arms
            .iter()
            .map(|(_, a)| {
                let Some(b) = a.bands.as_ref() else {
                    return "—".into();
                };
                let Some(c) = b.columns.iter().find(|c| c.column == col) else {
                    return "—".into();
                };
                let pick = if col == "titer_g_per_l" {
                    c.nominal.len().checked_sub(1)
                } else {
                    c.nominal
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        .reduce(|x, y| {
                            let better = if max { y.1 > x.1 } else { y.1 < x.1 };
                            if better { y } else { x }
                        })
                        .map(|(i, _)| i)
                };
                match pick {
                    Some(i) => format!(
                        "{} [{}–{}] @ {} h",
                        format_sig(c.nominal[i]),
                        format_sig(c.p05[i]),
                        format_sig(c.p95[i]),
                        format_sig(b.time_h[i])
                    ),
                    None => "—".into(),
                }
            })
            .collect();
        let _ = writeln!(s, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(s);
}
