pub mod containers;
pub mod network;
pub mod run;
