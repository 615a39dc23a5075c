//! The recipe of an IndPenSim batch: seven set-point profiles (time h →
//! value), filled backward as in the MATLAB IndPenSim: at time t the value
//! of the first set-point whose time is ≥ t; after the last, the last.

use crate::error::Error;

/// One input's set-points, sorted by time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// (time h, value), strictly increasing in time.
    pub points: Vec<(f64, f64)>,
}

impl Profile {
    /// A profile from (time, value) pairs; `what` names it in errors.
    pub fn new(points: Vec<(f64, f64)>, what: &str) -> Result<Self, Error> {
        if points.is_empty() {
            return Err(Error::input(
                "<recipe>",
                what,
                "at least one set-point",
                "none",
            ));
        }
        for (i, &(t, v)) in points.iter().enumerate() {
            if !t.is_finite() || !v.is_finite() || t < 0.0 {
                return Err(Error::input(
                    "<recipe>",
                    format!("{what}[{i}]"),
                    "a finite time ≥ 0 h and a finite value",
                    format!("time {t}, value {v}"),
                ));
            }
            if i > 0 && t <= points[i - 1].0 {
                return Err(Error::input(
                    "<recipe>",
                    format!("{what}[{i}].time"),
                    format!(
                        "a time after {} h (set-points in increasing time)",
                        points[i - 1].0
                    ),
                    format!("{t} h"),
                ));
            }
        }
        Ok(Profile { points })
    }

    /// Backward fill: the value of the first set-point with time ≥ `t_h`;
    /// the last value after the last set-point.
    pub fn at(&self, t_h: f64) -> f64 {
        let i = self.points.partition_point(|&(t, _)| t < t_h);
        self.points[i.min(self.points.len() - 1)].1
    }
}

/// The seven recipe inputs of a recipe-driven IndPenSim batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    /// Sugar feed, L/h.
    pub fs_l_per_h: Profile,
    /// Soybean oil feed, L/h.
    pub foil_l_per_h: Profile,
    /// Aeration, m³/h.
    pub fg_m3_per_h: Profile,
    /// Head pressure, bar gauge.
    pub pressure_bar: Profile,
    /// Broth discharge, L/h (positive = removed).
    pub discharge_l_per_h: Profile,
    /// Water feed, L/h.
    pub fw_l_per_h: Profile,
    /// PAA feed before the PAA controller takes over (10 h), L/h.
    pub fpaa_l_per_h: Profile,
}

/// Names of the recipe inputs as the data files spell them.
pub const RECIPE_INPUTS: [&str; 7] = ["Fs", "Foil", "Fg", "pressure", "discharge", "Fw", "Fpaa"];

impl Recipe {
    /// The IndPenSim default recipe (Goldrick et al. 2015; batch B01 of
    /// the shipped data set): used where a test needs a recipe without a
    /// data file.
    pub fn indpensim_default() -> Recipe {
        let p = |v: &[(f64, f64)]| Profile { points: v.to_vec() };
        Recipe {
            fs_l_per_h: p(&[
                (3.0, 8.0),
                (12.0, 15.0),
                (16.0, 30.0),
                (20.0, 75.0),
                (24.0, 150.0),
                (28.0, 30.0),
                (32.0, 37.0),
                (36.0, 43.0),
                (40.0, 47.0),
                (44.0, 51.0),
                (48.0, 57.0),
                (52.0, 61.0),
                (56.0, 65.0),
                (60.0, 72.0),
                (64.0, 76.0),
                (68.0, 80.0),
                (72.0, 84.0),
                (76.0, 90.0),
                (80.0, 116.0),
                (160.0, 90.0),
                (230.0, 80.0),
            ]),
            foil_l_per_h: p(&[
                (4.0, 22.0),
                (16.0, 30.0),
                (56.0, 35.0),
                (60.0, 34.0),
                (64.0, 33.0),
                (68.0, 32.0),
                (72.0, 31.0),
                (76.0, 30.0),
                (80.0, 29.0),
                (230.0, 23.0),
            ]),
            fg_m3_per_h: p(&[
                (8.0, 30.0),
                (20.0, 42.0),
                (40.0, 55.0),
                (90.0, 60.0),
                (200.0, 75.0),
                (230.0, 65.0),
            ]),
            pressure_bar: p(&[
                (12.4, 0.6),
                (25.0, 0.7),
                (30.0, 0.8),
                (40.0, 0.9),
                (100.0, 1.1),
                (150.0, 1.0),
                (200.0, 0.9),
                (230.0, 0.9),
            ]),
            discharge_l_per_h: p(&[
                (100.0, 0.0),
                (102.0, 4000.0),
                (130.0, 0.0),
                (132.0, 4000.0),
                (150.0, 0.0),
                (152.0, 4000.0),
                (170.0, 0.0),
                (172.0, 4000.0),
                (190.0, 0.0),
                (192.0, 4000.0),
                (210.0, 0.0),
                (212.0, 4000.0),
                (230.0, 0.0),
            ]),
            fw_l_per_h: p(&[
                (50.0, 0.0),
                (75.0, 500.0),
                (150.0, 100.0),
                (160.0, 0.0),
                (170.0, 400.0),
                (200.0, 150.0),
                (230.0, 250.0),
            ]),
            fpaa_l_per_h: p(&[(5.0, 5.0), (40.0, 0.0), (200.0, 10.0), (230.0, 4.0)]),
        }
    }

    /// The profile of input `name` (one of [`RECIPE_INPUTS`]).
    pub fn profile_mut(&mut self, name: &str) -> Option<&mut Profile> {
        Some(match name {
            "Fs" => &mut self.fs_l_per_h,
            "Foil" => &mut self.foil_l_per_h,
            "Fg" => &mut self.fg_m3_per_h,
            "pressure" => &mut self.pressure_bar,
            "discharge" => &mut self.discharge_l_per_h,
            "Fw" => &mut self.fw_l_per_h,
            "Fpaa" => &mut self.fpaa_l_per_h,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_fill_takes_the_next_set_point_and_holds_the_last() {
        let p = Profile::new(vec![(3.0, 8.0), (12.0, 15.0)], "Fs").unwrap();
        assert_eq!(p.at(0.2), 8.0);
        assert_eq!(p.at(3.0), 8.0);
        assert_eq!(p.at(3.2), 15.0);
        assert_eq!(p.at(12.0), 15.0);
        assert_eq!(p.at(200.0), 15.0);
    }

    #[test]
    fn unsorted_set_points_are_rejected_by_index() {
        let e = Profile::new(vec![(3.0, 8.0), (3.0, 15.0)], "Fs").unwrap_err();
        assert!(e.to_string().contains("Fs[1].time"), "{e}");
    }
}
