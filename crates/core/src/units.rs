//! Physical units of input files and their conversion to SI.
//!
//! The engine works in SI throughout (s, m³, kg, mol, K, Pa, and cells counted
//! as a base quantity). Input files state units as strings such as `1/h`,
//! `mmol/(cell h)`, `pg/(cell d)`, `g/L` or `mOsm/kg`. [`Unit::parse`] reads such
//! a string into a scale factor and a dimension vector, so a parameter given in
//! any consistent unit is converted, and one given in a unit of the wrong
//! dimension is rejected with both dimensions named.
//!
//! Grammar: `numerator [/ denominator]*`, each part a space- or `*`-separated
//! product of atoms, optionally parenthesised; an atom may carry an integer
//! exponent (`m^3`, `m3`, `h^-1`). Temperatures (`C`, `degC`, `K`) are affine
//! and handled by [`temperature_to_kelvin`].

use crate::error::Reason;
use std::fmt;

/// Exponents of the base quantities kg, m, s, mol, K, cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dim(pub [i8; 6]);

impl Dim {
    /// Dimensionless.
    pub const NONE: Dim = Dim([0; 6]);
    /// The dimension kg^kg m^m s^s mol^mol K^k cell^cell.
    pub const fn new(kg: i8, m: i8, s: i8, mol: i8, k: i8, cell: i8) -> Dim {
        Dim([kg, m, s, mol, k, cell])
    }
    fn add(self, o: Dim, sign: i8) -> Dim {
        let mut d = self.0;
        for (a, b) in d.iter_mut().zip(o.0) {
            *a += sign * b;
        }
        Dim(d)
    }
    fn scale(self, e: i8) -> Dim {
        let mut d = self.0;
        for a in d.iter_mut() {
            *a *= e;
        }
        Dim(d)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 6] = ["kg", "m", "s", "mol", "K", "cell"];
        let mut parts = Vec::new();
        for (n, &e) in NAMES.iter().zip(self.0.iter()) {
            match e {
                0 => {}
                1 => parts.push(n.to_string()),
                _ => parts.push(format!("{n}^{e}")),
            }
        }
        if parts.is_empty() {
            write!(f, "dimensionless")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// A parsed unit: multiply a value by `factor` to get SI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// Factor to SI: value × factor = SI value.
    pub factor: f64,
    /// Dimension of the unit.
    pub dim: Dim,
}

const fn atom(factor: f64, dim: Dim) -> Unit {
    Unit { factor, dim }
}

fn lookup_atom(name: &str) -> Option<Unit> {
    use Dim as D;
    let mass = D::new(1, 0, 0, 0, 0, 0);
    let len = D::new(0, 1, 0, 0, 0, 0);
    let time = D::new(0, 0, 1, 0, 0, 0);
    let amount = D::new(0, 0, 0, 1, 0, 0);
    let cell = D::new(0, 0, 0, 0, 0, 1);
    let vol = D::new(0, 3, 0, 0, 0, 0);
    let conc = D::new(0, -3, 0, 1, 0, 0);
    let pressure = D::new(1, -1, -2, 0, 0, 0);
    let energy = D::new(1, 2, -2, 0, 0, 0);
    let power = D::new(1, 2, -3, 0, 0, 0);
    // An osmole is an amount of osmotically active particles; osmolality
    // is then `mOsm/kg`.
    let osm = amount;
    Some(match name {
        "1" | "-" => atom(1.0, D::NONE),
        "%" => atom(0.01, D::NONE),
        "kg" => atom(1.0, mass),
        "g" => atom(1e-3, mass),
        "mg" => atom(1e-6, mass),
        "ug" | "µg" => atom(1e-9, mass),
        "ng" => atom(1e-12, mass),
        "pg" => atom(1e-15, mass),
        "m" => atom(1.0, len),
        "cm" => atom(1e-2, len),
        "mm" => atom(1e-3, len),
        "um" | "µm" => atom(1e-6, len),
        "L" | "l" => atom(1e-3, vol),
        "mL" | "ml" => atom(1e-6, vol),
        "uL" | "µL" => atom(1e-9, vol),
        "s" => atom(1.0, time),
        "min" => atom(60.0, time),
        "h" => atom(3600.0, time),
        "d" | "day" => atom(86400.0, time),
        "mol" => atom(1.0, amount),
        "mmol" => atom(1e-3, amount),
        "umol" | "µmol" => atom(1e-6, amount),
        "nmol" => atom(1e-9, amount),
        "pmol" => atom(1e-12, amount),
        "M" => atom(1e3, conc),
        "mM" => atom(1.0, conc),
        "uM" | "µM" => atom(1e-3, conc),
        "nM" => atom(1e-6, conc),
        "cell" | "cells" => atom(1.0, cell),
        "Pa" => atom(1.0, pressure),
        "kPa" => atom(1e3, pressure),
        "bar" => atom(1e5, pressure),
        "atm" => atom(101_325.0, pressure),
        "mmHg" => atom(133.322_387_415, pressure),
        "J" => atom(1.0, energy),
        "kJ" => atom(1e3, energy),
        "W" => atom(1.0, power),
        "Osm" => atom(1.0, osm),
        "mOsm" => atom(1e-3, osm),
        "K" => atom(1.0, D::new(0, 0, 0, 0, 1, 0)),
        "rpm" => atom(1.0 / 60.0, D::new(0, 0, -1, 0, 0, 0)),
        _ => return None,
    })
}

impl Unit {
    /// Parses a unit string; the error says which atom was not understood.
    pub fn parse(text: &str) -> Result<Unit, Reason> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Reason::from("an empty unit"));
        }
        // Parentheses must balance: `mo)/m3` once recursed without end
        // (a quotient that split_top_level could not split at depth 0).
        let mut depth = 0i32;
        for c in t.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err(Reason::from(format!("a `)` without its `(` in `{t}`")));
            }
        }
        if depth != 0 {
            return Err(Reason::from(format!("a `(` without its `)` in `{t}`")));
        }
        let mut result = Unit {
            factor: 1.0,
            dim: Dim::NONE,
        };
        for (i, part) in split_top_level(t, '/').into_iter().enumerate() {
            let sign = if i == 0 { 1 } else { -1 };
            let p = parse_product(part.trim())?;
            result.factor *= if sign > 0 { p.factor } else { 1.0 / p.factor };
            result.dim = result.dim.add(p.dim, sign);
        }
        Ok(result)
    }
}

fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_product(s: &str) -> Result<Unit, Reason> {
    let s = s.trim();
    let (s, stripped) = if s.starts_with('(') && s.ends_with(')') {
        (&s[1..s.len() - 1], true)
    } else {
        (s, false)
    };
    if s.contains('/') {
        // A parenthesised quotient such as `(mOsm/kg)`: parsed again one
        // level down (strictly shorter, so the recursion ends).
        if !stripped {
            return Err(Reason::from(format!("a `/` inside a product in `{s}`")));
        }
        return Unit::parse(s);
    }
    let mut u = Unit {
        factor: 1.0,
        dim: Dim::NONE,
    };
    for tok in s.split(|c: char| c.is_whitespace() || c == '*' || c == '·') {
        if tok.is_empty() {
            continue;
        }
        let a = parse_atom(tok)?;
        u.factor *= a.factor;
        u.dim = u.dim.add(a.dim, 1);
    }
    Ok(u)
}

fn parse_atom(tok: &str) -> Result<Unit, Reason> {
    if let Ok(x) = tok.parse::<f64>() {
        return Ok(Unit {
            factor: x,
            dim: Dim::NONE,
        });
    }
    let (base, exp) = if let Some((b, e)) = tok.split_once('^') {
        let e: i8 = e
            .trim_matches(|c| c == '(' || c == ')')
            .parse()
            .map_err(|_| format!("a bad exponent in `{tok}`"))?;
        (b, e)
    } else if let Some(pos) = tok.find(|c: char| c.is_ascii_digit()) {
        // `m3`, `cm2`: trailing digits are an exponent.
        match tok[pos..].parse::<i8>() {
            Ok(e) if pos > 0 => (&tok[..pos], e),
            _ => (tok, 1),
        }
    } else {
        (tok, 1)
    };
    let a = lookup_atom(base).ok_or_else(|| format!("an unknown unit `{base}`"))?;
    Ok(Unit {
        factor: a.factor.powi(exp as i32),
        dim: a.dim.scale(exp),
    })
}

/// Converts `value` in `unit` to SI, requiring the dimension of `expected_unit`
/// (a canonical example unit such as `1/h`).
pub fn to_si(value: f64, unit: &str, expected_unit: &str) -> Result<f64, Reason> {
    let want = Unit::parse(expected_unit).map_err(|e| format!("internal: {e}"))?;
    let got = Unit::parse(unit).map_err(|e| format!("{e} in '{unit}'"))?;
    if got.dim != want.dim {
        return Err(Reason::from(format!(
            "'{unit}' has dimension [{}] but [{}] is needed",
            got.dim, want.dim
        )));
    }
    Ok(value * got.factor)
}

/// Converts an SI value back to `unit` (for output and messages).
pub fn from_si(value_si: f64, unit: &str) -> f64 {
    match Unit::parse(unit) {
        Ok(u) => value_si / u.factor,
        Err(_) => f64::NAN,
    }
}

/// Temperature in `C`/`degC`/`°C` or `K` to kelvin.
pub fn temperature_to_kelvin(value: f64, unit: &str) -> Result<f64, Reason> {
    match unit.trim() {
        "C" | "degC" | "°C" => Ok(value + 273.15),
        "K" => Ok(value),
        other => Err(Reason::from(format!(
            "'{other}' is not a temperature unit (use C or K)"
        ))),
    }
}

/// Universal gas constant, J/(mol K).
pub const GAS_CONSTANT: f64 = 8.314_462_618;
/// Standard gravity, m/s².
pub const GRAVITY: f64 = 9.806_65;
/// 1 mmHg in Pa.
pub const PA_PER_MMHG: f64 = 133.322_387_415;
/// Seconds per hour.
pub const S_PER_H: f64 = 3600.0;
/// Cells per m³ in one 10⁶ cells/mL.
pub const CELLS_PER_M3_PER_1E6_PER_ML: f64 = 1e12;

#[cfg(test)]
mod tests {

    #[test]
    fn unbalanced_parentheses_are_an_error_not_a_stack_overflow() {
        // Found by the site-file fuzz target (seed 1796466918593959015):
        // `mo)/m3` recursed until the stack overflowed.
        for bad in ["mo)/m3", "(mol/m3", "mol)/(m3", ")(", "((g/L)", "g/(L"] {
            assert!(Unit::parse(bad).is_err(), "{bad}");
        }
        assert!(Unit::parse("(mOsm/kg)").is_ok());
        assert!(Unit::parse("g/(L d)").is_ok());
    }
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn converts_compound_units() {
        assert!(close(to_si(1.0, "1/h", "1/s").unwrap(), 1.0 / 3600.0));
        assert!(close(to_si(24.0, "1/d", "1/h").unwrap(), 24.0 / 86400.0));
        assert!(close(
            to_si(6.92e-11, "mmol/(cell h)", "mol/(cell s)").unwrap(),
            6.92e-14 / 3600.0
        ));
        assert!(close(
            to_si(36.0, "pg/(cell d)", "g/(cell h)").unwrap(),
            36e-15 / 86400.0
        ));
        assert!(close(
            to_si(1.69e8, "cells/mmol", "cells/mol").unwrap(),
            1.69e11
        ));
        assert!(close(to_si(5.0, "g/L", "kg/m3").unwrap(), 5.0));
        assert!(close(to_si(2.0, "mM", "mol/m^3").unwrap(), 2.0));
        assert!(close(
            to_si(150.0, "mmHg", "Pa").unwrap(),
            150.0 * PA_PER_MMHG
        ));
        assert!(close(to_si(1.0, "1e6 cells/mL", "cells/m3").unwrap(), 1e12));
        assert!(close(to_si(80.0, "kJ/mol", "J/mol").unwrap(), 8e4));
        assert!(close(to_si(0.004, "1/(mOsm/kg)", "kg/mol").unwrap(), 4.0));
    }

    #[test]
    fn rejects_wrong_dimension_and_unknown_atoms() {
        let e = to_si(1.0, "g/L", "1/h").unwrap_err();
        assert!(e.contains("dimension"), "{e}");
        let e = to_si(1.0, "furlongs/h", "m/s").unwrap_err();
        assert!(e.contains("furlongs"), "{e}");
    }

    #[test]
    fn temperatures_are_affine() {
        assert!(close(temperature_to_kelvin(37.0, "C").unwrap(), 310.15));
        assert!(temperature_to_kelvin(37.0, "F").is_err());
    }
}
