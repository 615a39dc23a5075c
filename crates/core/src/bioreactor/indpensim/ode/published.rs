//! Test-only: the IndPenSim right-hand side as published (pensimpy 1.2.5,
//! `indpensim_ode_py`; IndPenSim MATLAB v2), transcribed term by term with
//! no rearrangement — `powf` for every power, every division written out,
//! the parameter values repeated here as literals instead of shared with
//! `ode.rs`, `f64::tanh`, the viscosity sigmoids from `exp` at `t` — so that
//! the folded, reciprocal-multiplying, exp/ln form of [`super::rhs_with`]
//! is checked against something it shares no arithmetic with.
//!
//! Deviations from the published code, each a convention of this crate:
//! `u.discharge` is positive when broth is removed (published: negative
//! `F_discharge`); the disturbances are always added (zero when off); the
//! alkaline pH branch does not overwrite the caller's state (the published
//! code writes OH⁻ into `y[6]`); and the 4 bookkeeping integrals after the
//! 33 model states are the crate's own (evaporated and discharged volume,
//! penicillin formed and discharged).

use super::{Kinetics, N_STATES, State, StepInputs};

/// What the test needs beside the derivatives.
pub(super) struct Extra {
    /// The DO₂ saturation `DOstar_tp`, mg/L, that the DO₂ switches compare
    /// with (for the test's coverage checks).
    pub do_star: f64,
    /// For the two gas-transfer balances, DO₂ (index 1) and dissolved CO₂
    /// (28), the sum of the absolute values of their terms (uptake,
    /// kLa·c*, kLa·c, dilution): the derivative can be a near-cancellation
    /// of terms many orders larger, and rounding in a term is relative to
    /// the term. Zero for the other states.
    pub term_scale: State,
}

/// The published derivatives at `(t, y)`.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)]
pub(super) fn published_rhs(t: f64, y: &State, k: &Kinetics, u: &StepInputs) -> (State, Extra) {
    let pi = std::f64::consts::PI;
    // Kinetic and morphology parameters.
    let mut mu_p = k.mu_p;
    let mut mux_max = k.mux_max;
    let ratio_mu_e_mu_b: f64 = 0.4;
    let p_std_dev: f64 = 0.0015;
    let mean_p: f64 = 0.002;
    let mu_v: f64 = 1.71e-4;
    let mu_a: f64 = 3.5e-3;
    let mu_diff: f64 = 5.36e-3;
    let beta_1: f64 = 0.006;
    let k_b: f64 = 0.05;
    let k_diff_l: f64 = 0.09;
    let k_e: f64 = 0.009;
    let k_v_sat: f64 = 0.05;
    let delta_r: f64 = 0.75e-4;
    let k_v: f64 = 3.22e-5;
    let d_vac: f64 = 2.66e-11;
    let rho_a0: f64 = 0.35;
    let rho_d: f64 = 0.18;
    let r_0: f64 = 1.5e-4;
    let delta_0: f64 = 1e-4;
    // Process parameters.
    let y_sx: f64 = 1.85;
    let y_sp: f64 = 0.9;
    let m_s: f64 = 0.029;
    let mut c_oil = 1000.0;
    let mut c_s = 600.0;
    let y_o2_x: f64 = 650.0;
    let y_o2_p: f64 = 160.0;
    let m_o2_x: f64 = 17.5;
    let alpha_kla = k.alpha_kla;
    let (a, b, c, d) = (0.38, 0.34, -0.38, 0.25);
    let henrys_c: f64 = 0.0251;
    let n_imp: f64 = 3.0;
    let r: f64 = 2.1;
    let r_imp: f64 = 0.85;
    let po: f64 = 5.0;
    let epsilon: f64 = 0.1;
    let r_gas: f64 = 8.314;
    let x_crit_do2: f64 = 0.1;
    let p_crit_do2: f64 = 0.3;
    let a_inhib: f64 = 1.0;
    let (tf, tw, mut tcin, th, tair) = (288.0, 288.0, 285.0, 333.0, 290.0);
    let c_ps: f64 = 5.9;
    let c_pw: f64 = 4.18;
    let delta_h_evap: f64 = 2430.7;
    let u_jacket: f64 = 36.0;
    let a_c: f64 = 105.0;
    let eg: f64 = 14880.0;
    let ed: f64 = 173250.0;
    let k_g: f64 = 450.0;
    let k_d: f64 = 2.5e29;
    let y_qx: f64 = 25.0;
    let mut abc = 0.033;
    let gamma1: f64 = 0.0325e-5;
    let gamma2: f64 = 2.5e-11;
    let m_ph: f64 = 0.0025;
    let k1_ph: f64 = 1e-5;
    let k2_ph: f64 = 2.5e-8;
    let n_conc_oil: f64 = 20000.0;
    let n_conc_paa = k.n_conc_paa;
    let n_conc_shot: f64 = 400000.0;
    let y_nx: f64 = 10.0;
    let y_np: f64 = 80.0;
    let m_n: f64 = 0.03;
    let x_crit_n: f64 = 150.0;
    let mut paa_c = k.paa_c;
    let y_paa_p: f64 = 187.5;
    let y_paa_x: f64 = 45.0;
    let m_paa: f64 = 1.05;
    let x_crit_paa: f64 = 2400.0;
    let p_crit_paa: f64 = 200.0;
    let (b_1, b_2, b_3, b_4, b_5) = (-64.29, -1.825, 0.3649, 0.1280, -4.9496e-04);
    let delta_c_0: f64 = 0.89;
    let (k3, k1, k2, t1, t2) = (0.005, 0.001, 0.0001, 1.0, 250.0);
    let q_co2: f64 = 0.1353;
    let x_crit_co2: f64 = 7570.0;
    let alpha_evp: f64 = 5.2400e-4;
    let beta_t: f64 = 2.88;
    let (pho_g, pho_oil, pho_w, pho_paa) = (1540.0, 900.0, 1000.0, 1000.0);
    let mut o2_in = 0.21;
    let n2_in: f64 = 0.79;
    let c_co2_in: f64 = 0.033;
    let (tv, t0) = (373.0, 273.0);
    let alpha_1: f64 = 2451.8;

    // Inputs.
    let fs = u.fs;
    let fg = u.fg / 60.0;
    let rpm = u.rpm;
    let (fc, fh, fb, fa) = (u.fc, u.fh, u.fb, u.fa);
    let step1 = super::super::H_ODE_H;
    let fw = if u.fw < 0.0 { 0.0 } else { u.fw };
    let pressure = u.pressure;
    let f_discharge = -u.discharge;
    let (fpaa, foil, nh3_shots) = (u.fpaa, u.foil, u.nh3_shots);

    let pho_b = 1100.0 + y[3] + y[11] + y[12] + y[13] + y[14];
    mu_p += u.dist.mu_p;
    mux_max += u.dist.mu_x;
    c_s += u.dist.c_s;
    c_oil += u.dist.c_oil;
    abc += u.dist.abc;
    paa_c += u.dist.paa;
    tcin += u.dist.t_cin;
    o2_in += u.dist.o2_in;

    let a_t1 = y[10] / (y[11] + y[12] + y[13] + y[14]);
    let s = y[0];
    let a_1 = y[12];
    let a_0 = y[11];
    let a_3 = y[13];
    let total_x = y[11] + y[12] + y[13] + y[14];

    let mut h_b = (y[4] / 1000.0) / (pi * r.powf(2.0));
    h_b *= 1.0 - epsilon;
    let pressure_bottom = 1.0 + pressure + pho_b * h_b * 9.81e-5;
    let pressure_top = 1.0 + pressure;
    let total_pressure = (pressure_bottom - pressure_top) / (pressure_bottom / pressure_top).ln();
    let viscosity = if y[9] <= 4.0 { 1.0 } else { y[9] };
    let do_star = total_pressure * o2_in / henrys_c;

    let ph_inhib = 1.0 / (1.0 + (y[6] / k1_ph) + (k2_ph / y[6]));
    let nh3_inhib = 0.5 * (1.0 - (a_inhib * (x_crit_n - y[30])).tanh());
    let t_inhib = k_g * (-(eg / (r_gas * y[7]))).exp() - k_d * (-(ed / (r_gas * y[7]))).exp();
    let co2_inhib = 0.5 * (1.0 + (a_inhib * (x_crit_co2 - y[28] * 1000.0)).tanh());
    let do2_inhib_x = 0.5
        * (1.0 - (a_inhib * (x_crit_do2 * ((total_pressure * o2_in) / henrys_c) - y[1])).tanh());
    let do2_inhib_p = 0.5
        * (1.0 - (a_inhib * (p_crit_do2 * ((total_pressure * o2_in) / henrys_c) - y[1])).tanh());
    let paa_inhib_x = 0.5 * (1.0 + (x_crit_paa - y[29]).tanh());
    let paa_inhib_p = 0.5 * (1.0 + (-p_crit_paa + y[29]).tanh());
    let ph = -y[6].log10();
    let mu_h = ((b_1 + b_2 * ph + b_3 * y[7] + b_4 * ph.powf(2.0)) + b_5 * y[7].powf(2.0)).exp();

    let p_inhib = 2.5
        * p_std_dev
        * ((p_std_dev * 2.5066282746310002).powf(-1.0)
            * (-0.5 * ((s - mean_p) / p_std_dev).powf(2.0)).exp());
    let mu_a0 = ratio_mu_e_mu_b
        * mux_max
        * ph_inhib
        * nh3_inhib
        * t_inhib
        * do2_inhib_x
        * co2_inhib
        * paa_inhib_x;
    let mu_e = mux_max * ph_inhib * nh3_inhib * t_inhib * do2_inhib_x * co2_inhib * paa_inhib_x;
    let mut k_diff = 0.75 - (a_t1 * beta_1);
    if k_diff < k_diff_l {
        k_diff = k_diff_l;
    }
    let r_b0 = mu_a0 * a_1 * s / (k_b + s);
    let r_sb0 = y_sx * r_b0;
    let r_e1 = (mu_e * a_0 * s) / (k_e + s);
    let r_se1 = y_sx * r_e1;
    let r_d1 = mu_diff * a_0 / (k_diff + s);
    let r_m0 = m_s * a_0 / (k_diff + s);

    let mut v_2 = 0.0 + y[26];
    for j in 0..9 {
        v_2 += 4.1887902047863905 * (1.5e-4 + j as f64 * delta_r).powf(3.0) * y[16 + j] * delta_r;
    }
    let rho_a1 = a_1 / ((a_1 / rho_a0) + v_2);
    let v_a1 = a_1 / (2.0 * rho_a1) - v_2;
    let r_p = mu_p * rho_a0 * v_a1 * p_inhib * do2_inhib_p * paa_inhib_p - mu_h * y[3];
    let r_m1 = (m_s * rho_a0 * v_a1 * s) / (k_v_sat + s);
    let r_d4 = mu_a * a_3;
    let dn0 = ((mu_v * v_a1) / (k_v_sat + s)) * (1.909859317102744 * (r_0 + delta_0).powf(-3.0))
        - k_v * y[15];
    let mut dn = [0.0; 9];
    for (j, dnj) in dn.iter_mut().enumerate() {
        let n = 16 + j;
        *dnj = -k_v * ((y[n + 1] - y[n - 1]) / (2.0 * delta_r))
            + d_vac * (y[n + 1] - 2.0 * y[n] + y[n - 1]) / delta_r.powf(2.0);
    }
    let r_k = r_0 + 8.0 * delta_r;
    let r_m = r_0 + 10.0 * delta_r;
    let dn_m = k_v * dn[8] / (r_m - r_k) - mu_a * y[25];
    let n_k = y[24];
    let dphi_0 =
        ((mu_v * v_a1) / (k_v_sat + s)) - k_v * y[15] * (pi * (r_0 + delta_0).powf(3.0)) / 6.0;

    let f_evp = y[4] * alpha_evp * ((2.5 * (y[7] - t0) / (tv - t0)).exp() - 1.0);
    let pho_feed = c_s / 1000.0 * pho_g + (1.0 - c_s / 1000.0) * pho_w;
    let dilution = fs + fb + fa + fw - f_evp + fpaa;
    let dv1 = fs + fb + fa + fw + f_discharge / (pho_b / 1000.0) - f_evp + fpaa;
    let dwt = fs * pho_feed / 1000.0 + pho_oil / 1000.0 * foil + fb + fa + fw + f_discharge - f_evp
        + fpaa * pho_paa / 1000.0;
    let degeneration = (pi * (r_k + r_m).powf(3.0) / 6.0) * rho_d * k_v * n_k;
    let da_0 = r_b0 - r_d1 - y[11] * dilution / y[4];
    let da_1 = r_e1 - r_b0 + r_d1 - degeneration - y[12] * dilution / y[4];
    let da_3 = degeneration - r_d4 - y[13] * dilution / y[4];
    let da_4 = r_d4 - y[14] * dilution / y[4];
    let dp = r_p - y[3] * dilution / y[4];
    let x_1 = da_0 + da_1 + da_3 + da_4;
    let x_t = y[11] + y[12] + y[13] + y[14];
    let qrxn_x = x_1 * y_qx * y[4] * y_o2_x / 1000.0;
    let qrxn_p = dp * y_qx * y[4] * y_o2_p / 1000.0;
    let mut qrxn_t = qrxn_x + qrxn_p;
    if qrxn_t < 0.0 {
        qrxn_t = 0.0;
    }
    let n_rps = rpm / 60.0;
    let d_imp = 2.0 * r_imp;
    let unaerated_power = n_imp * po * pho_b * n_rps.powf(3.0) * d_imp.powf(5.0);
    let p_g =
        0.706 * ((unaerated_power.powf(2.0) * n_rps * d_imp.powf(3.0)) / fg.powf(0.56)).powf(0.45);
    let p_n = p_g / unaerated_power;
    let variable_power = (n_imp * po * pho_b * n_rps.powf(3.0) * d_imp.powf(5.0) * p_n) / 1000.0;

    let mut dy = State::zeros();
    dy[0] = -r_se1
        - r_sb0
        - r_m0
        - r_m1
        - (y_sp * mu_p * rho_a0 * v_a1 * p_inhib * do2_inhib_p * paa_inhib_p)
        + fs * c_s / y[4]
        + foil * c_oil / y[4]
        - y[0] * dilution / y[4];

    let v_s = fg / (pi * r.powf(2.0));
    let temp = y[7];
    let vol = y[4];
    let v_m = y[4] / 1000.0;
    let p_air = (v_s * r_gas * temp * v_m / (22.4 * h_b))
        * (1.0 + pho_b * 9.81 * h_b / (pressure_top * 1e5)).ln();
    let p_t1 = variable_power + p_air;
    let vis_scaled = viscosity / 100.0;
    let oil_f = foil / vol;
    let kla = alpha_kla
        * (v_s.powf(a) * (p_t1 / v_m).powf(b) * vis_scaled.powf(c))
        * (1.0 - oil_f.powf(d));
    let our = -x_1 * y_o2_x - m_o2_x * x_t - dp * y_o2_p;
    let otr = kla * (do_star - y[1]);
    dy[1] = our + otr - (y[1] * dilution / y[4]);

    let vg = epsilon * v_m;
    let qfg_in = 85714.28571428572 * fg;
    let qfg_out = fg * (n2_in / (1.0 - y[2] - y[27] / 100.0)) * 85714.28571428572;
    dy[2] = (qfg_in * o2_in - qfg_out * y[2] - 0.06 * otr * v_m) / (vg * 1293.3035714285716);
    dy[3] = r_p - y[3] * dilution / y[4];
    dy[4] = dv1;
    dy[5] = dwt;

    let ph_dis = fs + foil + fb + fa + f_discharge + fw;
    let alkaline = -y[6].log10() >= 7.0;
    let (ca, cb, ion) = if alkaline {
        (-abc, abc, 1e-14 / y[6] - y[6])
    } else {
        (abc, -abc, y[6])
    };
    let bb = -(ion * y[4] + ca * fa * step1 + cb * fb * step1) / (y[4] + fb * step1 + fa * step1);
    let metabolic = r_b0 + r_e1 + r_d4 + r_d1 + m_ph * total_x;
    dy[6] = if alkaline {
        -gamma1 * metabolic - gamma1 * r_p - gamma2 * ph_dis
            + ((-bb - (bb.powf(2.0) + 4e-14).powf(0.5)) / 2.0 - ion)
    } else {
        gamma1 * metabolic
            + gamma1 * r_p
            + gamma2 * ph_dis
            + ((-bb + (bb.powf(2.0) + 4e-14).powf(0.5)) / 2.0 - ion)
    };

    let ws = p_t1;
    let qcon = u_jacket * a_c * (y[7] - tair);
    let dq = fs * pho_feed * c_ps * (tf - y[7]) / 1000.0 + fw * pho_w * c_pw * (tw - y[7]) / 1000.0
        - f_evp * pho_b * c_pw / 1000.0
        - delta_h_evap * f_evp * pho_w / 1000.0
        + qrxn_t
        + ws
        - (alpha_1 / 1000.0)
            * fc.powf(beta_t + 1.0)
            * ((y[7] - tcin)
                / (fc / 1000.0 + (alpha_1 * (fc / 1000.0).powf(beta_t)) / 2.0 * pho_b * c_ps))
        - (alpha_1 / 1000.0)
            * fh.powf(beta_t + 1.0)
            * ((y[7] - th)
                / (fh / 1000.0 + (alpha_1 * (fh / 1000.0).powf(beta_t)) / 2.0 * pho_b * c_ps))
        - qcon;
    dy[7] = dq / ((y[4] / 1000.0) * c_pw * pho_b);
    dy[8] = dq;
    dy[9] = 3.0
        * a_0.powf(1.0 / 3.0)
        * (1.0 / (1.0 + (-k1 * (t - t1)).exp()))
        * (1.0 / (1.0 + (-k2 * (t - t2)).exp()))
        - k3 * fw;
    dy[10] = y[11] + y[12] + y[13] + y[14];
    dy[11] = da_0;
    dy[12] = da_1;
    dy[13] = da_3;
    dy[14] = da_4;
    dy[15] = dn0;
    for (j, dnj) in dn.iter().enumerate() {
        dy[16 + j] = *dnj;
    }
    dy[25] = dn_m;
    dy[26] = dphi_0;

    let cer = (y[11] + y[12]) * q_co2 * vol;
    dy[27] = (117857.14285714287 * fg * c_co2_in + cer - 117857.14285714287 * fg * y[27])
        / (vg * 1293.3035714285716);
    let henrys_c_co2 = (11.25 - 395.9 / (y[7] - 175.9)).exp() / 4400.0;
    let c_star_co2 = (total_pressure * y[27]) / henrys_c_co2;
    dy[28] = kla * delta_c_0 * (c_star_co2 - y[28]) - y[28] * dilution / y[4];
    dy[29] =
        fpaa * paa_c / vol - y_paa_p * dp - y_paa_x * x_1 - m_paa * y[3] - y[29] * dilution / y[4];
    let x_c_nitrogen = (-r_b0 - r_e1 - r_d1 - r_d4) * y_nx;
    let p_c_nitrogen = -dp * y_np;
    dy[30] = (nh3_shots * n_conc_shot) / y[4] + x_c_nitrogen + p_c_nitrogen - m_n * total_x
        + (n_conc_paa * fpaa / y[4])
        + n_conc_oil * foil / y[4]
        - y[30] * dilution / y[4];
    dy[31] = mu_p;
    dy[32] = mu_e;

    // The crate's bookkeeping integrals (not in the published model).
    let discharged_l = f_discharge / (pho_b / 1000.0);
    dy[33] = f_evp;
    dy[34] = -discharged_l;
    dy[35] = r_p * vol;
    dy[36] = -y[3] * discharged_l;
    debug_assert_eq!(dy.len(), N_STATES);
    let mut term_scale = State::zeros();
    term_scale[1] =
        our.abs() + (kla * do_star).abs() + (kla * y[1]).abs() + (y[1] * dilution / y[4]).abs();
    term_scale[28] = (kla * delta_c_0 * c_star_co2).abs()
        + (kla * delta_c_0 * y[28]).abs()
        + (y[28] * dilution / y[4]).abs();
    (
        dy,
        Extra {
            do_star,
            term_scale,
        },
    )
}
