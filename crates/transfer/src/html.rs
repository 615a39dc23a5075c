//! `report.html`: the study as one self-contained page a process engineer
//! can read, print and sign. Inline CSS (with a print stylesheet) and the
//! figures as inline SVG; no script, no external asset, no link that leaves
//! the file. Every number comes from the same [`TransferStudy`] as
//! `report.md` and `transfer.json`.
//!
//! Order: the comparability verdict per attribute, the summary, the scale-up
//! criteria decision table (chosen criterion marked), the receiving-site
//! recipe in absolute units, the recommendation with its engineering
//! re-check, predicted quality, figures, sensitivity, every warning, the
//! assumed numbers the study used, the model's limitations, the record.

use std::fmt::Write as _;

use biotwin_core::montecarlo::Summary;
use biotwin_core::output::format_sig;
use biotwin_core::scaleup::VesselConditions;

use super::TransferStudy;
use super::adjust::{Decision, MetricMatch, Side};
use super::labels::human;
use super::study::{ArmStudy, PEAK_PCO2};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format_sig(v)
    } else {
        "—".into()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), num)
}

/// A sentence: first letter upper case.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A signed percentage with one decimal, without "-0.0".
fn signed_pct(v: f64) -> String {
    if v.abs() < 0.05 {
        "±0.0 %".into()
    } else {
        format!("{v:+.1} %")
    }
}

/// Hours as whole hours where they are (phase and day limits).
fn hours(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "—".into(), |p| format!("{:.1} %", 100.0 * p))
}

const CSS: &str = r#"
:root { --ok: #1b7a3a; --bad: #b3261e; --warn: #8a5a00; --line: #c8c8c8; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 14px;
       line-height: 1.4; color: #111; max-width: 1280px; margin: 0 auto; padding: 16px 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 2px solid #333; padding-bottom: 2px; margin-top: 28px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.meta { color: #444; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; vertical-align: top; }
th { background: #eef0f3; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.chosen td { background: #e6f0ff; font-weight: bold; }
td small { font-weight: normal; color: #444; }
.ok { color: var(--ok); font-weight: bold; }
.bad { color: var(--bad); font-weight: bold; }
.verdict { border: 2px solid; padding: 8px 12px; font-size: 16px; margin: 8px 0; }
.verdict.ok { border-color: var(--ok); background: #eef8f0; }
.verdict.bad { border-color: var(--bad); background: #fbeeed; }
ul.warnings li { margin-bottom: 3px; }
.kind { font-family: monospace; color: var(--warn); }
code { font-size: 12px; background: #f3f3f3; padding: 0 2px; }
figure { margin: 8px 0 16px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #333; }
.sign td { height: 34px; min-width: 180px; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { font-size: 10pt; max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  table, figure, .verdict { break-inside: avoid; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  figure svg { border: none; }
  tr.chosen td, .verdict, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The margin of one attribute in its own unit: `≥ 3.06` (floor), `≤ 69.4`
/// (ceiling), `23.2 – 25.6` (two-sided).
fn margin(m: &MetricMatch) -> String {
    let t = m.tolerance_pct / 100.0;
    let r = m.reference;
    match m.side {
        Side::Floor => format!(
            "≥ {} (source − {} %)",
            num(r - t * r.abs()),
            m.tolerance_pct
        ),
        Side::Ceiling => format!(
            "≤ {} (source + {} %)",
            num(r + t * r.abs()),
            m.tolerance_pct
        ),
        Side::TwoSided => format!(
            "{} – {} (source ± {} %)",
            num(r - t * r.abs()),
            num(r + t * r.abs()),
            m.tolerance_pct
        ),
    }
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Floor => "floor",
        Side::Ceiling => "ceiling",
        Side::TwoSided => "equivalence",
    }
}

fn within(b: bool) -> &'static str {
    if b {
        r#"<span class="ok">comparable</span>"#
    } else {
        r#"<span class="bad">NOT comparable</span>"#
    }
}

/// The overall comparability verdict in one sentence (also the first line
/// of report.md's summary): `true` when every attribute with a margin is
/// within it on the target with the recommended recipe.
pub fn verdict_sentence(study: &TransferStudy) -> (bool, String) {
    let adj = &study.adjustment;
    let n = adj.metrics.len();
    let n_rec = adj.metrics.iter().filter(|m| m.adjusted_within).count();
    let n_tr = adj.metrics.iter().filter(|m| m.translated_within).count();
    let recipe = match adj.decision {
        Decision::Change => "recommended recipe",
        _ => "translated recipe (no change recommended)",
    };
    if n > 0 && n_rec == n {
        (
            true,
            format!(
                "Comparable: all {n} attributes with a margin are within it on the target with the {recipe} (nominal prediction; {n_tr} of {n} as translated)."
            ),
        )
    } else {
        let off: Vec<String> = adj
            .metrics
            .iter()
            .filter(|m| !m.adjusted_within)
            .map(|m| human(&m.metric))
            .collect();
        (
            false,
            format!(
                "Not comparable: {} of {n} attributes outside their margin on the target with the {recipe}: {} ({n_tr} of {n} within as translated).",
                n - n_rec,
                off.join(", ")
            ),
        )
    }
}

fn verdict(s: &mut String, study: &TransferStudy) {
    let adj = &study.adjustment;
    let _ = writeln!(s, r#"<section id="verdict"><h2>Comparability verdict</h2>"#);
    let (ok, text) = verdict_sentence(study);
    let class = if ok { "ok" } else { "bad" };
    let _ = writeln!(
        s,
        r#"<p class="verdict {class}" id="overall-verdict">{}</p>"#,
        esc(&text)
    );
    if !study.warnings.is_empty() {
        let mut kinds: Vec<&str> = study.warnings.iter().map(|w| w.kind.name()).collect();
        kinds.dedup();
        let _ = writeln!(
            s,
            r##"<p class="bad">{} {} to this transfer ({}): read them under <a href="#warnings">Warnings</a> before signing.</p>"##,
            study.warnings.len(),
            if study.warnings.len() == 1 {
                "warning applies"
            } else {
                "warnings apply"
            },
            esc(&kinds.join(", "))
        );
    }
    let _ = writeln!(
        s,
        "<p>Each attribute is judged against the source's nominal value: a <b>floor</b> (titer, viability) may be higher, a <b>ceiling</b> (pCO₂, impurities) may be lower, an <b>equivalence</b> attribute must stay within ± its margin. \
         The Monte Carlo column is the probability, over {} runs with the same random draws in every arm, that <i>all</i> attributes are within their margins at once (the source's own batch-to-batch spread keeps its value below 100 %).</p>",
        study.options.runs
    );
    let _ = writeln!(
        s,
        r#"<table id="verdict-table"><thead><tr><th>attribute</th><th>kind</th><th>margin</th><th>source</th><th>target, translated</th><th>target, {}</th><th>verdict</th></tr></thead><tbody>"#,
        if adj.decision == Decision::Change {
            "recommended"
        } else {
            "recommended (= translated)"
        }
    );
    for m in &adj.metrics {
        let _ = writeln!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} ({}) {}</td><td class="n">{} ({})</td><td>{}</td></tr>"#,
            esc(&human(&m.metric)),
            side_word(m.side),
            esc(&margin(m)),
            num(m.reference),
            num(m.translated),
            signed_pct(m.translated_deviation_pct),
            if m.translated_within {
                ""
            } else {
                r#"<span class="bad">✗</span>"#
            },
            num(m.adjusted),
            signed_pct(m.adjusted_deviation_pct),
            within(m.adjusted_within)
        );
    }
    let _ = writeln!(
        s,
        r#"<tr><td colspan="3"><b>P(all attributes within margin)</b>, Monte Carlo</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td></td></tr>"#,
        pct(study.source.prob_comparable_to_source),
        pct(study.target.prob_comparable_to_source),
        pct(study.adjusted.prob_comparable_to_source)
    );
    let _ = writeln!(s, "</tbody></table>");
    let judged: Vec<&str> = adj.metrics.iter().map(|m| m.metric.as_str()).collect();
    let unjudged: Vec<String> = study
        .source
        .nominal
        .iter()
        .filter(|(n, _)| !judged.contains(&n.as_str()))
        .map(|(n, v)| {
            format!(
                "{} (source {}, target {})",
                human(n),
                num(*v),
                opt(study.adjusted.nominal_of(n))
            )
        })
        .collect();
    if !unjudged.is_empty() {
        let _ = writeln!(
            s,
            "<p>Not judged (no margin set; add one with <code>--tolerance METRIC=PCT</code>): {}.</p>",
            esc(&unjudged.join("; "))
        );
    }
    let _ = writeln!(s, "</section>");
}

fn summary(s: &mut String, study: &TransferStudy) {
    let t = &study.translation;
    let adj = &study.adjustment;
    let def = &study.source_def;
    let _ = writeln!(s, r#"<section id="summary"><h2>Summary</h2><ul>"#);
    let _ = writeln!(
        s,
        "<li><b>Transfer</b>: {} on {} ({} L) → {} ({} L initial volume), scale-up criterion <b>{}</b>{}.</li>",
        esc(&def.name),
        esc(t.source.name()),
        num(t.report.source.volume_l),
        esc(t.target.name()),
        num(t.criterion_volume_l),
        esc(t.criterion.as_str()),
        if study.options.agitation_rpm.is_some() || study.options.sparge_slpm.is_some() {
            " with explicit target set-points"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "<li><b>Translated set-points</b>: agitation {} rpm, sparge gas {} SLPM ({} vvm); source {} rpm, {} SLPM ({} vvm).</li>",
        num(t.agitation_rpm),
        num(t.sparge_slpm),
        num(t.sparge_slpm / t.criterion_volume_l),
        num(t.report.source_conditions.agitation_rpm),
        num(t.report.source_conditions.sparge_gas_slpm),
        num(t.report.source_conditions.vvm_per_min)
    );
    let decision = match adj.decision {
        Decision::Change => {
            let changed: Vec<String> = adj
                .set_points
                .iter()
                .filter(|r| r.recommended != r.translated)
                .map(|r| {
                    format!(
                        "{} {} → {}",
                        human(&r.name),
                        num(r.translated),
                        num(r.recommended)
                    )
                })
                .collect();
            format!("<b>change</b>: {}", esc(&changed.join(", ")))
        }
        Decision::NoChange => "<b>no change</b>".into(),
        Decision::NoChangeFallback => "<b>no change</b> (fallback)".into(),
    };
    let _ = writeln!(
        s,
        "<li><b>Recommendation</b>: {decision}. {}.</li>",
        esc(&sentence(&adj.reason))
    );
    let spec_cqas: Vec<String> = def
        .specifications
        .as_ref()
        .map(|sp| sp.limits.iter().map(|l| human(&l.cqa)).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "<li><b>P(all specifications met)</b> ({} runs per arm): source {}, target translated {}, recommended {}. {}</li>",
        study.options.runs,
        pct(study.source.prob_all_in_spec),
        pct(study.target.prob_all_in_spec),
        pct(study.adjusted.prob_all_in_spec),
        if spec_cqas.is_empty() {
            "The process has no specification file.".to_string()
        } else {
            esc(&format!(
                "The specification file limits only {}; the other attributes are judged by the comparability verdict above, not by this probability.",
                spec_cqas.join(", ")
            ))
        }
    );
    let _ = writeln!(
        s,
        r##"<li><b>Warnings</b>: {} (all listed under <a href="#warnings">Warnings</a>). <b>Assumed numbers used</b>: {} (<a href="#assumptions">Assumptions</a>).</li>"##,
        study.warnings.len(),
        study.assumptions.len()
    );
    let _ = writeln!(s, "</ul></section>");
}

/// (header, field name the scale-up flags use, getter)
type Col = (&'static str, &'static str, fn(&VesselConditions) -> f64);

const CRITERIA_COLUMNS: [Col; 11] = [
    ("agitation [rpm]", "agitation_rpm", |c| c.agitation_rpm),
    ("sparge gas [SLPM]", "sparge_gas_slpm", |c| {
        c.sparge_gas_slpm
    }),
    ("gas flow [vvm]", "vvm_per_min", |c| c.vvm_per_min),
    ("gassed P/V [W/m³]", "gassed_p_per_v_w_per_m3", |c| {
        c.gassed_p_per_v_w_per_m3
    }),
    ("tip speed [m/s]", "tip_speed_m_per_s", |c| {
        c.tip_speed_m_per_s
    }),
    ("kLa O₂ [1/h]", "kla_per_h", |c| c.kla_per_h),
    ("v_s [mm/s]", "superficial_gas_velocity_m_per_s", |c| {
        1e3 * c.superficial_gas_velocity_m_per_s
    }),
    ("mixing time [s]", "mixing_time_s", |c| c.mixing_time_s),
    ("Kolmogorov length [µm]", "kolmogorov_length_um", |c| {
        c.kolmogorov_length_um
    }),
    ("OTR with air [mmol/(L h)]", "otr_air_mmol_per_l_h", |c| {
        c.otr_air_mmol_per_l_h
    }),
    ("pCO₂ at peak OUR [mmHg]", "pco2_mmhg", |c| c.pco2_mmhg),
];

/// A scale-up flag in a few words (its full message is listed below the
/// table for the chosen criterion).
fn flag_short(quantity: &str) -> &str {
    match quantity {
        "reynolds" => "transitional flow (Re < 10⁴)",
        "otr_air_mmol_per_l_h" => "O₂ enrichment needed",
        "gassed_p_per_v_w_per_m3" => "P/V outside kLa fit range",
        "superficial_gas_velocity_m_per_s" => "v_s outside kLa fit range",
        "tip_speed_m_per_s" => "tip speed above limit",
        "kolmogorov_length_um" => "Kolmogorov length below cell size",
        "agitation_rpm" => "agitation outside range",
        "sparge_gas_slpm" => "gas flow outside range",
        "pco2_mmhg" => "pCO₂ above limit",
        "volume_l" => "volume outside working range",
        other => other,
    }
}

fn criteria(s: &mut String, study: &TransferStudy) {
    let r = &study.translation.report;
    let _ = writeln!(
        s,
        r#"<section id="criteria"><h2>Scale-up criteria: decision table</h2>"#
    );
    let _ = writeln!(
        s,
        "<p>The target at {} L under every criterion (equations: docs/scale-up.md), at the source's peak O₂ uptake. The chosen criterion, <b>{}</b>, is marked; its set-points are the translated recipe. A criterion whose column breaks an equipment or correlation limit lists it.</p>",
        num(r.target.volume_l),
        esc(study.translation.criterion.as_str())
    );
    let _ = write!(
        s,
        r#"<table id="criteria-table"><thead><tr><th>criterion <small>(rule: agitation; gas)</small></th><th>chosen</th>"#
    );
    for (h, _, _) in CRITERIA_COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    let _ = writeln!(s, "<th>limits broken</th></tr></thead><tbody>");
    let row = |s: &mut String, name: &str, chosen: bool, rule: &str, c: &VesselConditions| {
        let _ = write!(
            s,
            r#"<tr{}><td>{}<br><small>{}</small></td><td>{}</td>"#,
            if chosen { r#" class="chosen""# } else { "" },
            esc(name),
            esc(rule),
            if chosen { "✔ chosen" } else { "" }
        );
        for (_, field, get) in CRITERIA_COLUMNS {
            let flagged = c.flags.iter().any(|f| f.quantity == field);
            let _ = write!(
                s,
                r#"<td class="n{}">{}{}</td>"#,
                if flagged { " bad" } else { "" },
                num(get(c)),
                if flagged { " !" } else { "" }
            );
        }
        let mut flags: Vec<&str> = c.flags.iter().map(|f| flag_short(f.quantity)).collect();
        flags.dedup();
        let _ = writeln!(
            s,
            "<td>{}</td></tr>",
            if flags.is_empty() {
                "none".into()
            } else {
                esc(&flags.join("; "))
            }
        );
    };
    row(
        s,
        &format!("source ({} L)", num(r.source.volume_l)),
        false,
        "as run",
        &r.source_conditions,
    );
    for c in &r.by_criterion {
        row(
            s,
            c.criterion.as_str(),
            c.chosen,
            &format!("{}; {}", c.agitation_rule, c.gas_rule),
            &c.conditions,
        );
    }
    let _ = writeln!(s, "</tbody></table>");
    if let Some(c) = r.by_criterion.iter().find(|c| c.chosen)
        && !c.conditions.flags.is_empty()
    {
        let _ = writeln!(
            s,
            "<p>Flags of the chosen criterion at the source's peak O₂ uptake (the feasibility check over the whole batch is in the warnings and the engineering re-check):</p><ul>"
        );
        for f in &c.conditions.flags {
            let _ = writeln!(s, "<li>{}</li>", esc(&f.message));
        }
        let _ = writeln!(s, "</ul>");
    }
    let _ = writeln!(s, "</section>");
}

fn recipe(s: &mut String, study: &TransferStudy) {
    let r = &study.site_recipe;
    let _ = writeln!(
        s,
        r#"<section id="recipe"><h2>Receiving-site recipe ({}, absolute units)</h2>"#,
        if study.adjustment.decision == Decision::Change {
            "recommended"
        } else {
            "translated; no change recommended"
        }
    );
    let _ = writeln!(
        s,
        "<p>Initial volume {} L; feed volumes are the recipe's at this scale × feed scale {}. Set-points per phase; O₂ is what the model predicts the DO controller needs (the sparge gas is enriched with pure O₂ at constant total flow; air = total − O₂). File: <code>{}</code>.</p>",
        num(r.initial_volume_l),
        num(r.feed_scale),
        super::ADJUSTED_PROCESS
    );
    let _ = writeln!(
        s,
        r#"<h3>Set-points per phase</h3><table id="phases"><thead><tr><th>phase</th><th>from [h]</th><th>to [h]</th><th>temperature [°C]</th><th>pH</th><th>DO set-point [% air sat.]</th><th>agitation [rpm]</th><th>total sparge gas [SLPM]</th><th>highest O₂ share of sparge [%]</th><th>pure O₂ at that time [SLPM]</th><th>air at that time [SLPM]</th></tr></thead><tbody>"#
    );
    for (i, p) in r.phases.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            i + 1,
            hours(p.start_h),
            hours(p.end_h),
            opt(p.temperature_c),
            opt(p.ph),
            opt(p.do_pct),
            opt(p.agitation_rpm),
            opt(p.sparge_slpm),
            opt(p.max_o2_in_sparge_pct),
            opt(p.max_o2_flow_slpm),
            opt(p.air_flow_at_max_o2_slpm)
        );
    }
    let _ = writeln!(s, "</tbody></table>");
    for (m, rate) in &r.continuous_feeds_l_per_day {
        let _ = writeln!(
            s,
            "<p>Continuous feed <code>{}</code>: {} L/day while on.</p>",
            esc(m),
            num(*rate)
        );
    }
    let _ = write!(
        s,
        r#"<h3>Day by day</h3><table id="days"><thead><tr><th>day</th><th>hours</th>"#
    );
    for m in &r.media {
        let _ = write!(s, "<th>{} added [L]</th>", esc(m));
    }
    let _ = writeln!(
        s,
        "<th>samples [mL]</th><th>base added, predicted [L]</th><th>volume at end of day, predicted [L]</th><th>highest pure O₂ flow, predicted [SLPM]</th></tr></thead><tbody>"
    );
    for d in &r.days {
        let _ = write!(
            s,
            r#"<tr><td class="n">{}</td><td class="n">{}–{}</td>"#,
            d.day,
            hours(d.start_h),
            hours(d.end_h)
        );
        for v in &d.feed_l {
            let _ = write!(
                s,
                r#"<td class="n">{}</td>"#,
                if *v > 0.0 { num(*v) } else { "—".into() }
            );
        }
        let _ = writeln!(
            s,
            r#"<td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            if d.sample_ml > 0.0 {
                num(d.sample_ml)
            } else {
                "—".into()
            },
            opt(d.base_l),
            opt(d.volume_end_l),
            opt(d.max_o2_flow_slpm)
        );
    }
    let _ = writeln!(s, "</tbody></table></section>");
}

fn recommendation(s: &mut String, study: &TransferStudy) {
    let adj = &study.adjustment;
    let _ = writeln!(
        s,
        r#"<section id="recommendation"><h2>Recommended set-points and engineering re-check</h2><p>{}.</p>"#,
        esc(&sentence(&adj.reason))
    );
    let _ = writeln!(
        s,
        "<table><thead><tr><th>set-point</th><th>address</th><th>translated</th><th>recommended</th><th>allowed range</th></tr></thead><tbody>"
    );
    for r in &adj.set_points {
        let _ = writeln!(
            s,
            r#"<tr><td>{}</td><td><code>{}</code></td><td class="n">{}</td><td class="n"><b>{}</b></td><td class="n">{} – {}</td></tr>"#,
            esc(&human(&r.name)),
            esc(&r.name),
            num(r.translated),
            num(r.recommended),
            num(r.low),
            num(r.high)
        );
    }
    let _ = writeln!(s, "</tbody></table>");
    let _ = writeln!(
        s,
        "<p>Engineering quantities over the whole nominal batch (worst value), as translated and as recommended. A quantity is acceptable within its limit or, where the translated recipe already breaks it, no worse; quantities without a limit may not get more than {} % worse.</p>",
        100.0 * biotwin_core::simulation::feasibility::REFERENCE_SLACK
    );
    let _ = writeln!(
        s,
        "<table><thead><tr><th>quantity</th><th>limit</th><th>translated</th><th>recommended</th><th>acceptable</th></tr></thead><tbody>"
    );
    for c in &adj.constraints {
        let limit = match c.limit {
            Some(l) => format!("{} {}", if c.ceiling { "≤" } else { "≥" }, num(l)),
            None => format!(
                "none ({} is worse)",
                if c.ceiling { "higher" } else { "lower" }
            ),
        };
        let _ = writeln!(
            s,
            r#"<tr><td>{} <code>{}</code></td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            esc(&human(&c.name)),
            esc(&c.name),
            esc(&limit),
            num(c.translated),
            num(c.recommended),
            if c.acceptable {
                r#"<span class="ok">yes</span>"#
            } else {
                r#"<span class="bad">no</span>"#
            }
        );
    }
    let _ = writeln!(s, "</tbody></table></section>");
}

fn band(x: Option<&Summary>) -> String {
    x.map_or_else(
        || "—".into(),
        |x| format!("{} [{} – {}]", num(x.mean), num(x.p05), num(x.p95)),
    )
}

fn quality(s: &mut String, study: &TransferStudy) {
    let _ = writeln!(
        s,
        r#"<section id="quality"><h2>Predicted end-of-batch quality</h2><p>Mean [5th – 95th percentile] over {} Monte Carlo runs of the declared uncertainty per arm (same draws in every arm); P = probability within specification.</p>"#,
        study.options.runs
    );
    let _ = writeln!(
        s,
        "<table><thead><tr><th>attribute</th><th>specification</th><th>source</th><th>P</th><th>target, translated</th><th>P</th><th>target, recommended</th><th>P</th></tr></thead><tbody>"
    );
    let p = |a: &ArmStudy, n: &str| {
        if n == PEAK_PCO2 {
            pct(Some(a.prob_peak_pco2_within_limit))
        } else {
            pct(a.summary_of(n).and_then(|x| x.prob_in_spec))
        }
    };
    for sm in &study.source.summary {
        let n = sm.name.as_str();
        let spec = sm.spec.clone().unwrap_or_else(|| {
            if n == PEAK_PCO2 {
                format!("≤ {} (inhibition)", num(study.source.pco2_limit_mmhg))
            } else {
                "—".into()
            }
        });
        let _ = writeln!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&human(n)),
            esc(&spec),
            band(Some(sm)),
            p(&study.source, n),
            band(study.target.summary_of(n)),
            p(&study.target, n),
            band(study.adjusted.summary_of(n)),
            p(&study.adjusted, n)
        );
    }
    let _ = writeln!(s, "</tbody></table>");
    if let Some(d) = &study.discrepancy {
        discrepancy_table(s, d);
    }
    let _ = writeln!(s, "</section>");
}

/// The calibrated model's nominal end-points with its recipe discrepancy δ
/// per arm: model, model + δ [95 % interval], or why δ is not applied.
fn discrepancy_table(s: &mut String, d: &crate::ArmsDiscrepancy) {
    use biotwin_ml::calibration::discrepancy::Applied;
    let _ = writeln!(
        s,
        r#"<h3 id="discrepancy">Model + recipe discrepancy (nominal runs)</h3><p>The calibrated model carries a recipe-conditioned discrepancy δ of its end-of-batch CQAs (<code>biotwin fit --discrepancy</code>), estimated on the calibration batches. It is applied only where every recipe condition lies within the range it was calibrated on (widened by {} of that range on each side, the farthest any held-out batch was checked); elsewhere the model's value stands and the reason is given. Interval: model + δ ± 1.96 predictive SD.</p>"#,
        biotwin_ml::calibration::discrepancy::RANGE_MARGIN
    );
    for (label, a) in d.arms() {
        match a {
            Applied::Refused { reason } => {
                let _ = writeln!(
                    s,
                    r#"<p class="refused"><b>{}</b>: δ not applied — {}</p>"#,
                    esc(label),
                    esc(reason)
                );
            }
            Applied::Applied { skipped, .. } => {
                for k in skipped {
                    let _ = writeln!(
                        s,
                        r#"<p class="refused"><b>{}</b>: δ of {} not applied — {}</p>"#,
                        esc(label),
                        esc(&k.target),
                        esc(&k.reason)
                    );
                }
            }
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, a) in d.arms() {
        if let Applied::Applied { qualities, .. } = a {
            for q in qualities {
                if !names.contains(&q.quality.as_str()) {
                    names.push(&q.quality);
                }
            }
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<table><thead><tr><th>attribute</th><th>arm</th><th>model</th><th>δ</th><th>model + δ [95 %]</th></tr></thead><tbody>"
    );
    for n in names {
        for (label, a) in d.arms() {
            let Applied::Applied { qualities, .. } = a else {
                continue;
            };
            if let Some(q) = qualities.iter().find(|q| q.quality == n) {
                let _ = writeln!(
                    s,
                    r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} [{} – {}]</td></tr>"#,
                    esc(&human(n)),
                    esc(label),
                    num(q.model),
                    num(q.discrepancy),
                    num(q.corrected),
                    num(q.lower_95),
                    num(q.upper_95)
                );
            }
        }
    }
    let _ = writeln!(s, "</tbody></table>");
}

fn figures(s: &mut String, trajectories_svg: &str, sobol_svg: &str) {
    let _ = writeln!(s, r#"<section id="figures"><h2>Figures</h2>"#);
    let _ = writeln!(
        s,
        "<figure>{}<figcaption>Nominal trajectories of source, translated and recommended target (solid, dashed, markers) with 5–95 % Monte Carlo envelopes; dashed black lines are limits (specification, pCO₂ inhibition, DO set-point).</figcaption></figure>",
        strip_xml_header(trajectories_svg)
    );
    let _ = writeln!(
        s,
        "<figure>{}<figcaption>Sobol' indices on the target: first-order S1 (filled) and total ST (outlined) per factor, with bootstrap intervals.</figcaption></figure></section>",
        strip_xml_header(sobol_svg)
    );
}

fn strip_xml_header(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn sensitivity(s: &mut String, study: &TransferStudy) {
    let sens = &study.sensitivity;
    let _ = writeln!(
        s,
        r#"<section id="sensitivity"><h2>What drives the target's titer</h2><p>Sobol' total index ST (share of titer variance a factor causes, interactions included) from N = {} base samples, {:.0} % bootstrap intervals; the full ranking for every attribute is in report.md and transfer.json.</p>"#,
        sens.sobol.base_samples,
        100.0 * sens.sobol.confidence_level
    );
    let r = super::sensitivity::ranking(sens, "titer_g_per_l");
    let _ = writeln!(
        s,
        "<table><thead><tr><th>rank</th><th>factor</th><th>range studied</th><th>ST [95 % CI]</th><th>S1</th></tr></thead><tbody>"
    );
    for (i, (f, s1, st, lo, hi)) in r.iter().enumerate() {
        let range = sens
            .factors
            .iter()
            .find(|x| &x.name == f)
            .map_or_else(String::new, |x| format!("{} – {}", num(x.low), num(x.high)));
        let _ = writeln!(
            s,
            r#"<tr><td class="n">{}</td><td>{} <code>{}</code></td><td class="n">{}</td><td class="n">{:.3} [{:.3}, {:.3}]</td><td class="n">{:.3}</td></tr>"#,
            i + 1,
            esc(&human(f)),
            esc(f),
            range,
            st,
            lo,
            hi,
            s1
        );
    }
    let _ = writeln!(s, "</tbody></table></section>");
}

fn warnings(s: &mut String, study: &TransferStudy) {
    let _ = writeln!(
        s,
        r#"<section id="warnings"><h2>Warnings ({})</h2>"#,
        study.warnings.len()
    );
    if study.warnings.is_empty() {
        let _ = writeln!(s, "<p>None.</p>");
    } else {
        let _ = writeln!(s, r#"<ul class="warnings">"#);
        for w in &study.warnings {
            let _ = writeln!(
                s,
                r#"<li><span class="kind">[{}]</span> {}</li>"#,
                esc(w.kind.name()),
                esc(&w.message)
            );
        }
        let _ = writeln!(s, "</ul>");
    }
    let _ = writeln!(s, "</section>");
}

fn assumptions(s: &mut String, study: &TransferStudy) {
    let _ = writeln!(
        s,
        r#"<section id="assumptions"><h2>Assumptions: numbers the study used that their files mark assumed ({})</h2><p>Each was chosen, not measured on the equipment or product; confirm or replace it with the receiving site's data before relying on the result.</p>"#,
        study.assumptions.len()
    );
    let _ = writeln!(
        s,
        r#"<table id="assumptions-table"><thead><tr><th>role</th><th>file</th><th>field = value</th><th>the file's source text</th></tr></thead><tbody>"#
    );
    // One row per file and source text: the numbers it covers, each with
    // its field.
    let mut groups: Vec<(&str, &str, &str, Vec<String>)> = Vec::new();
    for a in &study.assumptions {
        let item = format!("{} = {}", a.field, a.value);
        match groups
            .iter_mut()
            .find(|g| g.1 == a.file && g.2 == a.source && g.0 == a.role)
        {
            Some(g) => g.3.push(item),
            None => groups.push((&a.role, &a.file, &a.source, vec![item])),
        }
    }
    for (role, file, source, items) in groups {
        let _ = writeln!(
            s,
            r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
            esc(role),
            esc(file),
            items
                .iter()
                .map(|i| format!("<code>{}</code>", esc(i)))
                .collect::<Vec<_>>()
                .join("<br>"),
            esc(source)
        );
    }
    let _ = writeln!(s, "</tbody></table></section>");
}

fn limitations(s: &mut String, study: &TransferStudy) {
    let def = &study.source_def;
    let uncertain: Vec<&str> = def
        .uncertainty
        .iter()
        .map(|u| u.parameter.as_str())
        .collect();
    let mut items: Vec<String> = vec![
        format!(
            "The prediction is a model's: <code>{}</code> ({} v{}){}. Its quality attributes (glycans, charge variants, HMW, HCP) are empirical forms, not calibrated to this product; treat their changes as directions and sizes to check, not as release values.",
            esc(&def.model.id),
            esc(&def.model.family),
            esc(&def.model.version),
            if def.model.calibration.is_some() {
                ", calibrated on the dataset named in the record"
            } else {
                " with parameters from literature ranges (see Assumptions)"
            }
        ),
        format!(
            "The Monte Carlo spread covers only the declared uncertain inputs ({}). Model-structure error and equipment differences beyond those inputs are not in the intervals, so the true spread is wider.",
            esc(&uncertain.join(", "))
        ),
        "The vessel is treated as perfectly mixed: no gradients of dissolved O₂, CO₂, pH, substrate or base along the height of the large vessel. The mixing time is computed and shown, not simulated; long mixing times with bolus feeds and base addition are a risk the model does not see.".into(),
        "Gas transfer comes from the receiving vessel's kLa correlation (a literature correlation, accuracy about 20–40 %), not from measurements on that vessel; its constants are varied in the sensitivity study but not in the Monte Carlo arms. Measure kLa on the receiving vessel before the first batch.".into(),
        "Shear and foam are screening limits (Kolmogorov length, superficial gas velocity per sparger type), not modelled cell damage; antifoam and foam-out are not modelled.".into(),
        "pH is held by base addition only (its volume and osmolality are modelled); CO₂ sparging for pH control and headspace overlay are not modelled.".into(),
        "The verdict, the recommendation and the recipe use the nominal run; the Monte Carlo probabilities beside them show how often the same holds over the declared uncertainty.".into(),
    ];
    if let Some(sp) = &def.specifications {
        let cqas: Vec<String> = sp.limits.iter().map(|l| human(&l.cqa)).collect();
        items.push(format!(
            "P(all specifications met) only covers the limits in the specification file ({}); it is no statement about the other attributes.",
            esc(&cqas.join(", "))
        ));
    }
    let _ = writeln!(
        s,
        r#"<section id="limitations"><h2>Limitations of the model</h2><ul>"#
    );
    for i in items {
        let _ = writeln!(s, "<li>{i}</li>");
    }
    let _ = writeln!(s, "</ul></section>");
}

fn record(s: &mut String, study: &TransferStudy) {
    let def = &study.source_def;
    let o = &study.options;
    let _ = writeln!(
        s,
        r#"<section id="record"><h2>Record</h2><p>biotwin {}, seed {}, {} Monte Carlo runs per arm, Sobol' N = {}. Machine-readable package: <code>transfer.json</code> (schema <code>{}</code>); process files for the receiving site: <code>{}</code>, <code>{}</code> (with copies of their inputs in the same folder).</p>"#,
        env!("CARGO_PKG_VERSION"),
        o.seed,
        o.runs,
        o.sobol_base,
        super::package::SCHEMA,
        super::TRANSLATED_PROCESS,
        super::ADJUSTED_PROCESS
    );
    let _ = writeln!(
        s,
        "<table><thead><tr><th>input</th><th>file</th><th>sha256</th></tr></thead><tbody>"
    );
    for i in &def.inputs {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            esc(&i.role),
            esc(&i
                .path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())),
            esc(&i.sha256)
        );
    }
    let _ = writeln!(
        s,
        "<tr><td>target equipment</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
        esc(study.translation.target.id()),
        esc(&biotwin_core::definition::process::file_sha256(
            study.translation.target.path()
        ))
    );
    let _ = writeln!(s, "</tbody></table>");
    let _ = writeln!(
        s,
        r#"<table class="sign"><thead><tr><th>role</th><th>name</th><th>signature</th><th>date</th></tr></thead><tbody><tr><td>prepared by</td><td></td><td></td><td></td></tr><tr><td>reviewed by (receiving site)</td><td></td><td></td><td></td></tr><tr><td>approved by</td><td></td><td></td><td></td></tr></tbody></table></section>"#
    );
}

/// The whole page. `trajectories_svg` and `sobol_svg` are the figures
/// written beside it, inlined.
pub fn report(study: &TransferStudy, trajectories_svg: &str, sobol_svg: &str) -> String {
    let t = &study.translation;
    let def = &study.source_def;
    let mut s = String::new();
    let title = format!(
        "Virtual technology transfer: {} → {}",
        def.name,
        t.target.name()
    );
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = writeln!(
        s,
        r#"<header><h1>{}</h1><p class="meta">Process <code>{}</code>, from <code>{}</code> to <code>{}</code>, criterion <b>{}</b>; biotwin {}, seed {}.</p></header>"#,
        esc(&title),
        esc(&def.id),
        esc(t.source.id()),
        esc(t.target.id()),
        esc(t.criterion.as_str()),
        env!("CARGO_PKG_VERSION"),
        study.options.seed
    );
    verdict(&mut s, study);
    summary(&mut s, study);
    criteria(&mut s, study);
    recipe(&mut s, study);
    recommendation(&mut s, study);
    quality(&mut s, study);
    figures(&mut s, trajectories_svg, sobol_svg);
    sensitivity(&mut s, study);
    warnings(&mut s, study);
    assumptions(&mut s, study);
    limitations(&mut s, study);
    record(&mut s, study);
    let _ = writeln!(s, "</body></html>");
    s
}
