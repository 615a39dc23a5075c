//! Scale-up criteria and the rule each applies to agitation and gas.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What is kept equal between source and target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Ungassed power per volume.
    PPerV,
    /// Impeller tip speed π N D.
    TipSpeed,
    /// kLa for O₂ (agitation solved at constant vvm).
    Kla,
    /// O₂ transfer capacity with air, kLa (C* − C_L) (agitation solved at constant vvm).
    Otr,
    /// Gas volumes per liquid volume per minute (agitation at constant P/V).
    Vvm,
    /// Superficial gas velocity (agitation at constant P/V).
    #[serde(rename = "v_s")]
    VS,
    /// 95 % mixing time.
    MixingTime,
    /// Impeller Reynolds number.
    Reynolds,
    /// Same agitation speed N (a reference case for the power laws).
    ConstantN,
}

impl Criterion {
    /// Every criterion, in the order of the report's columns.
    pub const ALL: [Criterion; 9] = [
        Criterion::PPerV,
        Criterion::TipSpeed,
        Criterion::Kla,
        Criterion::Otr,
        Criterion::Vvm,
        Criterion::VS,
        Criterion::MixingTime,
        Criterion::Reynolds,
        Criterion::ConstantN,
    ];

    /// The criterion's name as used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Criterion::PPerV => "p_per_v",
            Criterion::TipSpeed => "tip_speed",
            Criterion::Kla => "kla",
            Criterion::Otr => "otr",
            Criterion::Vvm => "vvm",
            Criterion::VS => "v_s",
            Criterion::MixingTime => "mixing_time",
            Criterion::Reynolds => "reynolds",
            Criterion::ConstantN => "constant_n",
        }
    }

    /// How the target agitation is chosen.
    pub fn agitation_rule(self) -> &'static str {
        match self {
            Criterion::PPerV | Criterion::Vvm | Criterion::VS => "equal ungassed P/V",
            Criterion::TipSpeed => "equal tip speed",
            Criterion::Kla => "solved for equal kLa",
            Criterion::Otr => "solved for equal OTR with air",
            Criterion::MixingTime => "equal mixing time",
            Criterion::Reynolds => "equal Reynolds number",
            Criterion::ConstantN => "equal N",
        }
    }

    /// How the target gas flow is chosen.
    pub fn gas_rule(self) -> &'static str {
        match self {
            Criterion::VS => "equal superficial gas velocity",
            _ => "equal vvm",
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Criterion {
    type Err = String;
    /// Parses a criterion name; the error lists the valid names.
    fn from_str(s: &str) -> Result<Self, String> {
        Criterion::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Criterion::ALL.iter().map(|c| c.as_str()).collect();
                format!("one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for c in Criterion::ALL {
            assert_eq!(c.as_str().parse::<Criterion>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert!(
            "power"
                .parse::<Criterion>()
                .unwrap_err()
                .contains("p_per_v")
        );
    }
}
