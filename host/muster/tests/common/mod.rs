//! What the crash tests share: the simulator in the test's process ([`sim`]), the generated
//! directory, its job and the clean run it must converge to ([`directory`]), kills placed by
//! construction or at random ([`kills`]), and the checks of the end state ([`converged`]); and
//! the Python, JavaScript and C builds of the example plugins ([`guests`]). Each test binary
//! uses part of it.

#![allow(dead_code)]

pub mod converged;
pub mod directory;
pub mod guests;
pub mod kills;
pub mod sim;
