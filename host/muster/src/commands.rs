//! One module per command family.

pub mod demo;
pub mod gateway;
pub mod logs;
pub mod plugin;
pub mod scaffold;
pub mod simulate;
pub mod sync;
