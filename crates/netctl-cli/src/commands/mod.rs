pub mod containers;
pub mod network;
pub mod ports;
pub mod run;
