//! Fed-batch stirred-tank bioreactor: kinetic model families and the physics
//! they share (gas transfer).

pub mod gas_transfer;
