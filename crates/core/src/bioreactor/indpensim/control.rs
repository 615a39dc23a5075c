//! The discrete controllers of IndPenSim, evaluated once per 0.2-h step from
//! the states recorded at the ends of the previous steps (velocity-form PID,
//! Goldrick et al. 2015 §2.4; gains and limits of the published model).

/// Velocity-form PID: u_k = u_{k−1} + Kp·[(e_k − e_{k−1}) + e_k·h/Ti
/// − Td/h·(y_k − 2y_{k−1} + y_{k−2})], clamped to [u_min, u_max]. The
/// integral term is dropped for Ti ≤ 1e-7, the derivative for Td ≤ 0.001.
#[allow(clippy::too_many_arguments)]
pub fn pid(
    u_prev: f64,
    e: f64,
    e_prev: f64,
    y: f64,
    y1: f64,
    y2: f64,
    u_min: f64,
    u_max: f64,
    kp: f64,
    ti: f64,
    td: f64,
    h: f64,
) -> f64 {
    let p = e - e_prev;
    let i = if ti > 1e-7 { e * h / ti } else { 0.0 };
    let d = if td > 0.001 {
        -td / h * (y - 2.0 * y1 + y2)
    } else {
        0.0
    };
    let u = u_prev + kp * (p + i + d);
    u.clamp(u_min, u_max)
}

/// What the controllers see of the past: the measured variable at the end of
/// step j (j = 0 is the first step; before any step, the initial state) and
/// the manipulated flows of the previous step.
pub struct History<'a> {
    /// Current step k (1-based).
    pub k: usize,
    /// Value at the end of each finished step (index = step − 1).
    pub past: &'a [f64],
    /// Value before the first step.
    pub initial: f64,
}

impl History<'_> {
    /// The value of the published code's record slot j: the initial value
    /// while no step has finished, afterwards the end of step j + 1.
    pub fn slot(&self, j: usize) -> f64 {
        if self.past.len() > j {
            self.past[j]
        } else {
            self.initial
        }
    }

    /// (current, previous, before-previous) samples for the derivative term:
    /// steps 1–2 repeat the first sample, step 3 the first two.
    pub fn last_three(&self) -> (f64, f64, f64) {
        match self.k {
            1 | 2 => (self.slot(0), self.slot(0), self.slot(0)),
            3 => (self.slot(1), self.slot(0), self.slot(0)),
            k => (self.slot(k - 2), self.slot(k - 3), self.slot(k - 4)),
        }
    }

    /// (latest, previous) samples for the error terms.
    pub fn last_two(&self) -> (f64, f64) {
        match self.k {
            1 | 2 => (self.slot(0), self.slot(0)),
            k => (self.slot(k - 2), self.slot(k - 3)),
        }
    }
}

/// Step length of the controllers, h.
const H: f64 = super::STEP_H;

/// pH set-point.
pub const PH_SETPOINT: f64 = 6.5;
/// Temperature set-point, K.
pub const T_SETPOINT_K: f64 = 298.0;
/// PAA set-point, mg/L, active from 10 h.
pub const PAA_SETPOINT_MG_PER_L: f64 = 1200.0;

/// Acid and base flows (L/h) from the pH history (values are pH, not H+).
/// `fa_prev`, `fb_prev`: the previous step's flows (0 before the first).
///
/// Reproduced as published: from step 3 on the previous error omits the
/// set-point (e_{k−1} = −pH_{k−1}), so the proportional term acts on
/// pH_sp − pH_k + pH_{k−1}.
pub fn ph_flows(ph: &History, fa_prev: f64, fb_prev: f64) -> (f64, f64) {
    let (latest, previous) = ph.last_two();
    let err = PH_SETPOINT - latest;
    let err1 = if ph.k <= 2 { err } else { -previous };
    let (y, y1, y2) = ph.last_three();
    if err >= -0.05 {
        let fb = pid(
            fb_prev, err, err1, y, y1, y2, 0.0, 225.0, 8e-2, 4.0e-5, 8.0, H,
        );
        (0.0, fb)
    } else {
        let fa = pid(
            fa_prev, err, err1, y, y1, y2, 0.0, 225.0, 8e-2, 12.5, 0.125, H,
        );
        let fb = if ph.k == 1 { 0.0 } else { fb_prev * 0.5 };
        (fa, fb)
    }
}

/// Cooling and heating water flows (L/h) from the temperature history.
/// Reproduced as published: the heating PID starts from the previous
/// *cooling* flow. Both flows are floored at 1e-4 L/h.
pub fn temperature_flows(temp: &History, fc_prev: f64, fh_prev: f64) -> (f64, f64) {
    let (latest, previous) = temp.last_two();
    let err = T_SETPOINT_K - latest;
    let err1 = T_SETPOINT_K - previous;
    let (y, y1, y2) = temp.last_three();
    let (fc, fh) = if err <= 0.05 {
        let fc = pid(
            fc_prev, err, err1, y, y1, y2, 0.0, 1.5e3, -300.0, 1.6, 0.005, H,
        );
        let fh = if temp.k == 1 { 0.0 } else { fh_prev * 0.1 };
        (fc, fh)
    } else {
        let fh = pid(
            fc_prev, err, err1, y, y1, y2, 0.0, 1.5e3, 50.0, 0.050, 1.0, H,
        );
        let fc = if temp.k == 1 { 0.0 } else { fc_prev * 0.3 };
        (fc, fh)
    };
    (fc.max(1e-4), fh.max(1e-4))
}

/// PAA feed (L/h) from the PAA history (mg/L), once the step's time
/// k·h reaches 10 h; before that `None` (the recipe's value applies).
/// No derivative term (Td = 0).
pub fn paa_flow(paa: &History, fpaa_prev: f64) -> Option<f64> {
    if (paa.k as f64) * H < 10.0 {
        return None;
    }
    let (latest, previous) = paa.last_two();
    let err = PAA_SETPOINT_MG_PER_L - latest;
    let err1 = PAA_SETPOINT_MG_PER_L - previous;
    Some(pid(
        fpaa_prev, err, err1, 0.0, 0.0, 0.0, 0.0, 150.0, 0.1, 0.50, 0.0, H,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_velocity_form_and_clamp() {
        // P + I only: 1 + 0.5·(0.1 + 0.2·0.2/0.5) = 1.09.
        let u = pid(1.0, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 10.0, 0.5, 0.5, 0.0, 0.2);
        assert!((u - 1.09).abs() < 1e-12);
        assert_eq!(
            pid(
                1.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.5, 0.5, 0.0, 0.2
            ),
            10.0
        );
    }

    #[test]
    fn history_slots_follow_the_published_indexing() {
        let past = [1.0, 2.0, 3.0, 4.0];
        let h = History {
            k: 5,
            past: &past,
            initial: 0.0,
        };
        assert_eq!(h.last_two(), (4.0, 3.0));
        assert_eq!(h.last_three(), (4.0, 3.0, 2.0));
        let h1 = History {
            k: 1,
            past: &[],
            initial: 7.0,
        };
        assert_eq!(h1.last_three(), (7.0, 7.0, 7.0));
    }
}
