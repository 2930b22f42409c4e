//! What the crash tests share: the simulator in the test's process ([`sim`]), the generated
//! directory, its job and the clean run it must converge to ([`directory`]), kills placed by
//! construction or at random ([`kills`]), and the checks of the end state ([`converged`]).
//! Each test binary uses part of it.

#![allow(dead_code)]

pub mod converged;
pub mod directory;
pub mod kills;
pub mod sim;
